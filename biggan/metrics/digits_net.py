"""Small CNN feature network for the embedded digits data (the default of the embedded pipeline).

Any input resolution is first resized to `resolution` (default 32) with antialiased bilinear
interpolation (torch `F.interpolate(mode="bilinear", align_corners=False, antialias=True)`,
an identity at the native size), then scaled to [-1, 1] by x / 127.5 - 1.
Three conv(3x3)-BN-ReLU-maxpool(2) stages (width, 2 width, 4 width), a `feature_dim` fc + ReLU
(the penultimate features used for FID), and a 10-way fc (the logits used for IS).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NUM_CLASSES = 10


class DigitsCNN(nn.Module):
    def __init__(self, resolution: int = 32, width: int = 16, feature_dim: int = 128):
        super().__init__()
        if resolution % 8:
            raise ValueError(f"digits_net.resolution must be a multiple of 8, got {resolution}")
        self.resolution = resolution
        chans = [3, width, 2 * width, 4 * width]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1, bias=False) for a, b in zip(chans, chans[1:]))
        self.bns = nn.ModuleList(nn.BatchNorm2d(c) for c in chans[1:])
        self.fc = nn.Linear(chans[-1] * (resolution // 8) ** 2, feature_dim)
        self.head = nn.Linear(feature_dim, NUM_CLASSES)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 or float [0, 255] (N, 3, H, W) -> float [-1, 1] (N, 3, resolution, resolution)."""
        x = images.float()
        if x.shape[-2:] != (self.resolution, self.resolution):
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear",
                              align_corners=False, antialias=True)
        return x / 127.5 - 1.0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prepared input -> (features (N, feature_dim), logits (N, 10))."""
        for conv, bn in zip(self.convs, self.bns):
            x = F.max_pool2d(F.relu(bn(conv(x))), 2)
        feats = F.relu(self.fc(x.flatten(1)))
        return feats, self.head(feats)


def checkpoint(net: DigitsCNN) -> dict:
    """Everything needed to rebuild the net; loadable with torch.load(weights_only=True)."""
    return {"state_dict": net.state_dict(), "resolution": net.resolution,
            "width": net.convs[0].out_channels, "feature_dim": net.fc.out_features}


def from_checkpoint(ckpt: dict) -> DigitsCNN:
    net = DigitsCNN(ckpt["resolution"], ckpt["width"], ckpt["feature_dim"])
    net.load_state_dict(ckpt["state_dict"], strict=True)
    return net.eval().requires_grad_(False)


class DigitsFeatureNet:
    """FeatureNet over a trained DigitsCNN: penultimate features and 10 logits."""

    num_classes = NUM_CLASSES

    def __init__(self, net: DigitsCNN, weights_sha256: str, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.dim = net.fc.out_features
        self.name = f"digits-cnn:{weights_sha256[:16]}"

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.dtype != torch.uint8:
            raise TypeError(f"digits features take uint8 images, got {images.dtype}")
        feats, logits = self.net(self.net.prepare(images.to(self.device)))
        return feats.float().cpu(), logits.float().cpu()
