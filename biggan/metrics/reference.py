"""Real-data statistics: the reference of every FID, and the scores of the validation images.

Training images give mu/Sigma (and the real side of precision/recall); the validation images
are then scored against them like a generator would be: their IS is the "valid IS" of the
paper's Table 2 (ImageNet 128px: train IS 233, val IS 166).
"""
from __future__ import annotations

from collections.abc import Iterable

from biggan.config.evaluation import EvalConfig
from biggan.metrics.feature_net import FeatureNet, extract_features, load_pr_net
from biggan.metrics.inception_score import inception_score
from biggan.metrics.refstats import ReferenceStats
from biggan.metrics.scorer import Scorer


def compute_reference(net: FeatureNet, train_batches: Iterable[object], val_batches: Iterable[object] | None,
                      cfg: EvalConfig, progress: bool = True,
                      totals: tuple[int | None, int | None] = (None, None),
                      pr_net: FeatureNet | None = None) -> tuple[ReferenceStats, dict]:
    """-> (reference statistics of the training images, metrics JSON dict). The precision/recall
    network of `eval.pr_features` is loaded on `net`'s device unless `pr_net` is given."""
    if pr_net is None:
        pr_net = load_pr_net(cfg, getattr(net, "device", "cpu"))
    train = extract_features(net, train_batches, batch_size=cfg.batch_size, total=totals[0],
                             progress=progress, desc="train", pr_net=pr_net)
    ref = ReferenceStats.from_features(train.feats, net.name, cfg.pr_samples, pr_feats=train.pr_feats,
                                       pr_feature_net=pr_net.name if pr_net is not None else None)
    train_is = inception_score(train.logits, cfg.is_splits)
    metrics: dict = {"feature_net": net.name, "dim": net.dim, "pr_features": ref.pr_space, "n_train": ref.n,
                     "train_is_mean": train_is[0], "train_is_std": train_is[1]}
    if val_batches is not None:
        scorer = Scorer(net, ref, is_splits=cfg.is_splits, pr_k=cfg.pr_k, pr_samples=cfg.pr_samples,
                        batch_size=cfg.batch_size, progress=progress, pr_net=pr_net)
        val = scorer.score_images(val_batches, total=totals[1])
        metrics["n_val"] = val.pop("n")
        metrics.update({f"val_{k}": v for k, v in val.items()})
    return ref, metrics
