"""`eval:` and `sweep:` sections: feature networks, IS/FID/precision-recall, truncation sweeps."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveInt, model_validator

from biggan.config.base import Strict

# sha256 of pt_inception-2015-12-05-6726825d.pth (pytorch-fid's port of the TF FID graph)
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
# sha256 of vgg16-397923af.pth (torchvision's VGG-16; its name carries the first 8 digits)
VGG16_SHA256 = "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0"


class DigitsNetConfig(Strict):
    """Small CNN trained on the digits training split: logits for IS, penultimate features for FID."""

    resolution: PositiveInt = 32           # inputs are resized to this (antialiased bilinear)
    width: PositiveInt = 16                # channels of the first conv (doubled twice)
    feature_dim: PositiveInt = 128         # penultimate (FID feature) width
    max_shift: NonNegativeInt = 2          # random translation (pixels) in training
    out_dir: str = "data/feature_net"      # the feature_net stage's output: digits_net.pt, metrics.json
    epochs: PositiveInt = 30
    batch_size: PositiveInt = 64
    lr: float = Field(1e-3, gt=0)
    seed: int = 0
    min_accuracy: float = Field(0.97, ge=0, le=1)   # held-out accuracy the stage must reach


class EvalConfig(Strict):
    feature_net: Literal["digits", "inception"] = "digits"
    inception_weights: str | None = None   # local path to pt_inception-2015-12-05-6726825d.pth
    inception_sha256: str = INCEPTION_SHA256
    inception_dtype: Literal["float32", "float64"] = "float32"
    digits_net: DigitsNetConfig = DigitsNetConfig()
    num_samples: PositiveInt = 50000       # generated samples per score (paper: 50k)
    batch_size: PositiveInt = 50           # images per G pass and feature batch (ref_stats, sweep, in-training IS/FID)
    is_splits: PositiveInt = 10
    pr_k: PositiveInt = 3                  # k of the k-NN manifolds (improved precision/recall)
    pr_samples: PositiveInt = 10000        # samples per side for precision/recall (and real ones kept)
    # precision/recall feature space: the scorer's (feature_net) features, or VGG-16 fc2 as
    # published (Kynkaanniemi et al. 2019), from a local vgg16-397923af.pth
    pr_features: Literal["scorer", "vgg16"] = "scorer"
    vgg16_weights: str | None = None
    vgg16_sha256: str = VGG16_SHA256
    refstats_dir: str = "data/refstats"    # ref_stats stage output: <dir>/<dataset>/train_stats.npz

    @model_validator(mode="after")
    def _check(self) -> "EvalConfig":
        if self.feature_net == "inception" and not self.inception_weights:
            raise ValueError("feature_net 'inception' needs inception_weights: a local path to "
                             "pt_inception-2015-12-05-6726825d.pth")
        if self.pr_features == "vgg16" and not self.vgg16_weights:
            raise ValueError("pr_features 'vgg16' needs vgg16_weights: a local path to vgg16-397923af.pth")
        if self.is_splits > self.num_samples:
            raise ValueError(f"is_splits {self.is_splits} is larger than num_samples {self.num_samples} "
                             f"(IS splits the samples into is_splits parts)")
        return self


class SweepConfig(Strict):
    """Truncation sweep per trained model: z resampled until |z_i| <= threshold."""

    untruncated: bool = True                # include z ~ N(0, I)
    thresholds: list[float] = [2.0, 1.5, 1.0, 0.75, 0.5, 0.25, 0.04]
    num_samples: PositiveInt = 50000
    bn_stats: Literal["standing", "running"] = "standing"
    standing_passes: PositiveInt = 16       # forward passes accumulated for standing statistics
    # sweep seeds (each: its own latents and standing statistics); a model counts as trained when its
    # untruncated IS >= trained_is_fraction x the real validation images' IS, and only a trained
    # model is swept with every seed (the others with the first)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    trained_is_fraction: NonNegativeFloat = 0.75

    @model_validator(mode="after")
    def _check(self) -> "SweepConfig":
        bad = [t for t in self.thresholds if t < 0]
        if bad:
            raise ValueError(f"thresholds must be >= 0 (0 means z = 0); got {bad}")
        if not self.thresholds and not self.untruncated:
            raise ValueError("empty sweep: no thresholds and untruncated false; list thresholds or "
                             "set untruncated: true")
        return self
