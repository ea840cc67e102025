"""Reference statistics of real images: what FID and precision/recall compare against.

The training images give mu/Sigma (and the real side of precision/recall); the validation
images are then scored against them like a generator would be: their IS is the "valid IS" of
the paper's Table 2 (ImageNet 128px: train IS 233, val IS 166). `compute_reference` does both
for the ref_stats stage, which writes STATS_FILE and METRICS_FILE per dataset.

Saved as an uncompressed .npz: mu (D,), sigma (D, D) float64, n, feature_net (the identity of
the network + weights that produced them; scoring with another network is refused) and
pr_features (M, D') float32: a seeded random subset of the real features for precision/recall,
in the space named by pr_feature_net (the scorer's own features, or VGG-16 fc2; files without
that entry used the scorer's).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biggan.config.evaluation import EvalConfig
from biggan.metrics.feature_net import FeatureNet, extract_features, load_pr_net
from biggan.metrics.fid import feature_stats
from biggan.metrics.inception_score import inception_score

STATS_FILE = "train_stats.npz"
METRICS_FILE = "metrics.json"       # beside it: train/val IS, the val split's FID, precision, recall
FORMAT = 1


def reference_stats_path(cfg: EvalConfig, dataset: str) -> Path:
    """Where the ref_stats stage writes a dataset's statistics: <eval.refstats_dir>/<dataset>/train_stats.npz."""
    return Path(cfg.refstats_dir) / dataset / STATS_FILE


@dataclass(frozen=True)
class ReferenceStats:
    mu: np.ndarray
    sigma: np.ndarray
    n: int
    feature_net: str
    pr_features: np.ndarray
    pr_feature_net: str | None = None      # None: the scorer's features (feature_net)

    @property
    def pr_space(self) -> str:
        """Identity of the network whose features precision/recall compare."""
        return self.pr_feature_net or self.feature_net

    @classmethod
    def from_features(cls, feats: np.ndarray, feature_net: str, pr_samples: int, seed: int = 0,
                      pr_feats: np.ndarray | None = None, pr_feature_net: str | None = None) -> "ReferenceStats":
        """`pr_feats` / `pr_feature_net`: the same images in a separate precision/recall space."""
        if (pr_feats is None) != (pr_feature_net is None):
            raise ValueError("pr_feats and pr_feature_net go together")
        mu, sigma = feature_stats(feats)
        keep = np.sort(np.random.default_rng(seed).permutation(len(feats))[:pr_samples])
        pr = feats if pr_feats is None else pr_feats
        return cls(mu, sigma, len(feats), feature_net, np.ascontiguousarray(pr[keep], np.float32),
                   pr_feature_net)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            np.savez(f, format=FORMAT, mu=self.mu, sigma=self.sigma, n=self.n,
                     feature_net=np.str_(self.feature_net), pr_features=self.pr_features,
                     pr_feature_net=np.str_(self.pr_space))

    @classmethod
    def load(cls, path: str | Path) -> "ReferenceStats":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"reference statistics not found: {path}; they are written by "
                                    f"`python -m stages.ref_stats --params params.yaml --dataset NAME` "
                                    f"(or `dvc repro`)")
        with np.load(path, allow_pickle=False) as z:
            missing = {"format", "mu", "sigma", "n", "feature_net", "pr_features"} - set(z.files)
            if missing:
                raise ValueError(f"{path}: not a reference-statistics file (missing {sorted(missing)})")
            if int(z["format"]) != FORMAT:
                raise ValueError(f"{path}: format {int(z['format'])}, this code reads {FORMAT}; "
                                 f"re-run the ref_stats stage")
            feature_net = str(z["feature_net"])
            pr_net = str(z["pr_feature_net"]) if "pr_feature_net" in z.files else feature_net
            return cls(z["mu"], z["sigma"], int(z["n"]), feature_net, z["pr_features"],
                       None if pr_net == feature_net else pr_net)


def compute_reference(net: FeatureNet, train_batches: Iterable[object], val_batches: Iterable[object] | None,
                      cfg: EvalConfig, progress: bool = True,
                      totals: tuple[int | None, int | None] = (None, None),
                      pr_net: FeatureNet | None = None) -> tuple[ReferenceStats, dict]:
    """-> (reference statistics of the training images, metrics JSON dict). The precision/recall
    network of `eval.pr_features` is loaded on `net`'s device unless `pr_net` is given."""
    from biggan.metrics.scorer import Scorer      # the scorer reads ReferenceStats: imported here

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
