"""IS / FID / precision / recall of images or of a generator against reference statistics.

Used by training (periodic scores of G_ema on a small sample, on the worker's device; with
several ranks `biggan.metrics.distributed.ShardedScorer` splits the samples over them) and by
the truncation sweep.
Generated images are quantised to uint8 exactly as real images are stored in the shards
(round((x + 1) * 127.5), clamped) before the feature network sees them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch

from biggan.config.evaluation import EvalConfig
from biggan.metrics.feature_net import FeatureNet, Features, extract_features, load_feature_net, load_pr_net
from biggan.metrics.fid import feature_stats, frechet_distance
from biggan.metrics.images import quantize
from biggan.metrics.inception_score import inception_score
from biggan.metrics.precision_recall import precision_recall
from biggan.metrics.refstats import ReferenceStats

SampleFn = Callable[[int], torch.Tensor]


class Scorer:
    """`pr_net`: a separate precision/recall feature network (VGG-16 fc2); None: `net`'s features."""

    def __init__(self, net: FeatureNet, ref: ReferenceStats, *, is_splits: int = 10, pr_k: int = 3,
                 pr_samples: int = 10000, batch_size: int = 50, progress: bool = False,
                 pr_net: FeatureNet | None = None):
        if ref.feature_net != net.name:
            raise ValueError(f"reference statistics were computed with {ref.feature_net!r}, not with "
                             f"{net.name!r}; re-run the ref_stats stage")
        self.pr_space = (pr_net or net).name      # the feature space precision/recall are measured in
        if ref.pr_space != self.pr_space:
            raise ValueError(f"reference precision/recall features were computed with {ref.pr_space!r}, "
                             f"not with {self.pr_space!r} (eval.pr_features); re-run the ref_stats stage")
        self.net, self.ref, self.pr_net = net, ref, pr_net
        self.is_splits, self.pr_k, self.pr_samples = is_splits, pr_k, pr_samples
        self.batch_size, self.progress = batch_size, progress

    @classmethod
    def from_config(cls, cfg: EvalConfig, ref_path: str | Path, device: str | torch.device = "cpu",
                    progress: bool = False) -> "Scorer":
        return cls(load_feature_net(cfg, device), ReferenceStats.load(ref_path), is_splits=cfg.is_splits,
                   pr_k=cfg.pr_k, pr_samples=cfg.pr_samples, batch_size=cfg.batch_size, progress=progress,
                   pr_net=load_pr_net(cfg, device))

    def score_features(self, f: Features) -> dict[str, float]:
        is_mean, is_std = inception_score(f.logits, self.is_splits)
        mu, sigma = feature_stats(f.feats)
        fid, fid_imag = frechet_distance(self.ref.mu, self.ref.sigma, mu, sigma)
        m = min(len(f), len(self.ref.pr_features), self.pr_samples)   # equal set sizes: k-NN radii comparable
        pr_feats = f.feats if self.pr_net is None else f.pr_feats
        precision, recall = precision_recall(self.ref.pr_features[:m], pr_feats[:m], self.pr_k)
        return {"is_mean": is_mean, "is_std": is_std, "fid": fid, "fid_imag": fid_imag,
                "precision": precision, "recall": recall, "n": len(f)}

    def extract(self, batches: Iterable[object], total: int | None = None, desc: str = "score") -> Features:
        return extract_features(self.net, batches, batch_size=self.batch_size, total=total,
                                progress=self.progress, desc=desc, pr_net=self.pr_net)

    def score_images(self, batches: Iterable[object], total: int | None = None) -> dict[str, float]:
        """uint8 (B, 3, H, W) batches (or (images, labels) pairs) -> scores."""
        return self.score_features(self.extract(batches, total))

    def score_generator(self, sample_fn: SampleFn, n: int, batch_size: int | None = None) -> dict[str, float]:
        """sample_fn(b) -> float images in [-1, 1], (b, 3, H, W); n samples in batches of batch_size."""
        return self.score_features(self.extract(generated(sample_fn, n, batch_size or self.batch_size),
                                                total=n, desc="generated"))


def check_sample(x: torch.Tensor, b: int) -> torch.Tensor:
    if x.dim() != 4 or x.shape[0] != b or x.shape[1] != 3:
        raise ValueError(f"sample_fn({b}) must return (b, 3, H, W) images, got {tuple(x.shape)}")
    return x


@torch.no_grad()
def generated(sample_fn: SampleFn, n: int, batch_size: int) -> Iterator[torch.Tensor]:
    """uint8 batches on sample_fn's device (the feature network moves them to its own)."""
    for i in range(0, n, batch_size):
        b = min(batch_size, n - i)
        yield quantize(check_sample(sample_fn(b), b))
