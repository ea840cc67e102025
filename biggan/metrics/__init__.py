"""Evaluation metrics (IS, FID, improved precision/recall) over one FeatureNet interface.

Feature networks: the TF FID Inception v3 (`inception`, paper-comparable numbers), a small
digits CNN (`digits_net`, the embedded default) and, for precision/recall only, VGG-16 fc2
(`vgg`, `eval.pr_features: vgg16`). `Scorer` scores images or a generator against
`ReferenceStats` written by the ref_stats stage.
"""
from biggan.metrics.feature_net import FeatureNet, Features, extract_features, load_feature_net, load_pr_net
from biggan.metrics.fid import feature_stats, frechet_distance
from biggan.metrics.images import quantize
from biggan.metrics.inception_score import inception_score, inception_score_from_probs
from biggan.metrics.precision_recall import precision_recall
from biggan.metrics.refstats import ReferenceStats, reference_stats_path
from biggan.metrics.scorer import Scorer

__all__ = [
    "FeatureNet", "Features", "ReferenceStats", "Scorer", "extract_features", "feature_stats",
    "frechet_distance", "inception_score", "inception_score_from_probs", "load_feature_net", "load_pr_net",
    "precision_recall", "quantize", "reference_stats_path",
]
