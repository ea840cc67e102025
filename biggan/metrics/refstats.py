"""Reference statistics of real training images: what FID and precision/recall compare against.

Saved as an uncompressed .npz: mu (D,), sigma (D, D) float64, n, feature_net (the identity of
the network + weights that produced them; scoring with another network is refused) and
pr_features (M, D) float32: a seeded random subset of the real features for precision/recall.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biggan.config.evaluation import EvalConfig
from biggan.metrics.fid import feature_stats

STATS_FILE = "train_stats.npz"
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

    @classmethod
    def from_features(cls, feats: np.ndarray, feature_net: str, pr_samples: int,
                      seed: int = 0) -> "ReferenceStats":
        mu, sigma = feature_stats(feats)
        keep = np.sort(np.random.default_rng(seed).permutation(len(feats))[:pr_samples])
        return cls(mu, sigma, len(feats), feature_net, np.ascontiguousarray(feats[keep], np.float32))

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            np.savez(f, format=FORMAT, mu=self.mu, sigma=self.sigma, n=self.n,
                     feature_net=np.str_(self.feature_net), pr_features=self.pr_features)

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
            return cls(z["mu"], z["sigma"], int(z["n"]), str(z["feature_net"]), z["pr_features"])
