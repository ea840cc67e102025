"""The FID Inception v3 of the TF reference (inception-2015-12-05 graph) in pure torch.

Input: uint8 images (N, 3, H, W), any size. As in the TF graph, they are resized to 299x299
with TF1 ResizeBilinear (see tf_resize) and scaled by (x - 128) / 128. Outputs:
  pool3  (N, 2048): the spatial mean of Mixed_7c (TF `pool_3:0`), the FID features;
  logits (N, 1008): pool3 @ fc.weight.T, *without* the fc bias, as openai/improved-gan's IS
                    (softmax over all 1008 outputs, 8 of which are unused classes).
Weights: pt_inception-2015-12-05-6726825d.pth (pytorch-fid's conversion of the TF graph;
566 state_dict keys), read from a local file only and checked against its sha256.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from biggan.metrics.fp32 import ieee_fp32
from biggan.metrics.hashing import checked_state_dict
from biggan.metrics.inception_blocks import BasicConv2d, InceptionA, InceptionB, InceptionC, InceptionD, InceptionE
from biggan.metrics.tf_resize import resize_bilinear_tf1

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS_FILE}"
INPUT_SIZE = 299
NUM_CLASSES = 1008
POOL3_DIM = 2048


class FIDInceptionV3(nn.Module):
    """Inception v3 trunk + 1008-way fc; forward(float images in [0, 255]) -> (pool3, logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(POOL3_DIM, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = resize_bilinear_tf1(x, (INPUT_SIZE, INPUT_SIZE))
        x = (x - 128.0) / 128.0
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
                      self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b,
                      self.Mixed_7c):
            x = block(x)
        pool3 = x.mean(dim=(2, 3))
        return pool3, pool3 @ self.fc.weight.T


def missing_weights_message(path: Path) -> str:
    return (f"Inception weights not found: {path} (eval.inception_weights). Nothing is downloaded at "
            f"run time: on a machine with internet fetch {WEIGHTS_URL} (sha256 "
            f"6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2) and copy it to {path}.")


def load_inception(path: str | Path, sha256: str | None) -> tuple[FIDInceptionV3, str]:
    """Strictly load the weights file; `sha256=None` skips the checksum. -> (eval-mode net, file sha256)."""
    path = Path(path)
    state, digest = checked_state_dict(path, sha256, "eval.inception_sha256",
                                       f"the file {WEIGHTS_FILE} from {WEIGHTS_URL}", missing_weights_message(path))
    net = FIDInceptionV3()
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{path}: not the FID Inception state_dict ({WEIGHTS_FILE} layout): {e}") from None
    return net.eval().requires_grad_(False), digest


class InceptionFeatureNet:
    """FeatureNet over the FID Inception: pool3 features (2048) and bias-free logits (1008)."""

    dim = POOL3_DIM
    num_classes = NUM_CLASSES

    def __init__(self, net: FIDInceptionV3, weights_sha256: str, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32):
        self.device = torch.device(device)
        self.dtype = dtype
        self.net = net.to(self.device, dtype)
        self.name = f"inception-2015-12-05:{weights_sha256[:16]}"

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.dtype != torch.uint8:
            raise TypeError(f"Inception features take uint8 images, got {images.dtype}")
        with ieee_fp32():                                # TF32 would cost ~1e-3 in pool3
            pool3, logits = self.net(images.to(self.device).to(self.dtype))
        return pool3.float().cpu(), logits.float().cpu()
