"""One interface over the feature networks (digits CNN, FID Inception, VGG-16 for precision/recall)
and batched extraction."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from tqdm import tqdm

from biggan.config.evaluation import EvalConfig
from biggan.metrics.images import rebatch

DIGITS_WEIGHTS = "digits_net.pt"


@runtime_checkable
class FeatureNet(Protocol):
    name: str            # identity (network + weights hash), recorded with reference statistics
    dim: int             # feature width (2048 for Inception pool3)
    num_classes: int     # logit width (1008 for Inception)

    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (N, 3, H, W) -> (features float (N, dim), logits float (N, num_classes)), on CPU."""
        ...


@dataclass(frozen=True)
class Features:
    feats: np.ndarray    # (N, dim) float32
    logits: np.ndarray   # (N, num_classes) float32
    pr_feats: np.ndarray | None = None   # (N, pr dim): a separate precision/recall space, if any

    def __len__(self) -> int:
        return len(self.feats)


def digits_weights_path(cfg: EvalConfig) -> Path:
    return Path(cfg.digits_net.out_dir) / DIGITS_WEIGHTS


def load_digits_net(path: str | Path, device: str | torch.device = "cpu") -> FeatureNet:
    from biggan.metrics.digits_net import DigitsFeatureNet, from_checkpoint
    from biggan.metrics.hashing import sha256_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"digits feature network not found: {path}; it is written by the "
                                f"feature_net stage: `python -m stages.feature_net --params params.yaml` "
                                f"(or `dvc repro feature_net`)")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return DigitsFeatureNet(from_checkpoint(ckpt), sha256_file(path), device)


def load_feature_net(cfg: EvalConfig, device: str | torch.device = "cpu", *,
                     weights: str | Path | None = None, check_sha256: bool = True) -> FeatureNet:
    """The network named by `eval.feature_net`; `weights` overrides the configured file."""
    if cfg.feature_net == "digits":
        return load_digits_net(weights or digits_weights_path(cfg), device)
    from biggan.metrics.inception import InceptionFeatureNet, load_inception

    net, digest = load_inception(weights or cfg.inception_weights,
                                 cfg.inception_sha256 if check_sha256 else None)
    dtype = torch.float64 if cfg.inception_dtype == "float64" else torch.float32
    return InceptionFeatureNet(net, digest, device, dtype)


def load_pr_net(cfg: EvalConfig, device: str | torch.device = "cpu") -> FeatureNet | None:
    """The precision/recall network of `eval.pr_features`: None for the scorer's own features."""
    if cfg.pr_features == "scorer":
        return None
    from biggan.metrics.vgg import VGGFeatureNet, load_vgg16

    net, digest = load_vgg16(cfg.vgg16_weights, cfg.vgg16_sha256)
    return VGGFeatureNet(net, digest, device)


def extract_features(net: FeatureNet, batches: Iterable[object], *, batch_size: int = 50,
                     total: int | None = None, progress: bool = True, desc: str = "features",
                     pr_net: FeatureNet | None = None) -> Features:
    """Run `net` (and `pr_net`, if given) over uint8 batches ((B, 3, H, W) tensors/arrays or
    (images, labels) pairs)."""
    feats, logits, pr_feats = [], [], []
    names = net.name + (f" + {pr_net.name}" if pr_net is not None else "")
    with tqdm(total=total, desc=f"{desc} [{names}]", unit="img", disable=not progress,
              leave=False) as bar:
        for x in rebatch(batches, batch_size):
            f, lg = net.features(x)
            feats.append(f.numpy())
            logits.append(lg.numpy())
            if pr_net is not None:
                pr_feats.append(pr_net.features(x)[0].numpy())
            bar.update(x.shape[0])
    if not feats:
        raise ValueError("no images to extract features from (the batch iterable was empty)")
    return Features(np.concatenate(feats), np.concatenate(logits),
                    np.concatenate(pr_feats) if pr_net is not None else None)
