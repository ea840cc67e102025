"""VGG-16 fc2 features: the feature space of improved precision/recall (Kynkaanniemi et al. 2019).

The network is VGG-16 (Simonyan & Zisserman 2015, configuration D) in the state_dict layout of
the common torchvision release `vgg16-397923af.pth` (32 keys: `features.{0,2,5,...,28}` convs,
`classifier.{0,3,6}` linears), built here (torchvision is not a dependency) and read from a
local file only, sha256-checked; nothing is downloaded.

Input: uint8 images (N, 3, H, W), any size -> [0, 1] -> bilinear (antialiased) resize to
224x224 -> ImageNet mean/std normalisation. Outputs: fc2 (N, 4096), the second fully connected
layer after its ReLU (dropout inactive), and the 1000 class logits.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from biggan.metrics.fp32 import ieee_fp32
from biggan.metrics.hashing import checked_state_dict

WEIGHTS_FILE = "vgg16-397923af.pth"
WEIGHTS_URL = f"https://download.pytorch.org/models/{WEIGHTS_FILE}"
INPUT_SIZE = 224
FC_DIM = 4096
NUM_CLASSES = 1000
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# configuration D: conv widths in multiples of `width` (64), "M" = 2x2 max pool
LAYOUT = (1, 1, "M", 2, 2, "M", 4, 4, 4, "M", 8, 8, 8, "M", 8, 8, 8, "M")


class VGG16(nn.Module):
    """VGG-16 with torchvision's module names; `width` / `fc_dim` shrink it for tests only."""

    def __init__(self, width: int = 64, fc_dim: int = FC_DIM, num_classes: int = NUM_CLASSES):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in LAYOUT:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v * width, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v * width
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Linear(cin * 7 * 7, fc_dim), nn.ReLU(inplace=True), nn.Dropout(),
            nn.Linear(fc_dim, fc_dim), nn.ReLU(inplace=True), nn.Dropout(),
            nn.Linear(fc_dim, num_classes))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised (N, 3, 224, 224) -> (fc2 after ReLU (N, fc_dim), logits (N, num_classes))."""
        h = self.avgpool(self.features(x)).flatten(1)
        fc2 = self.classifier[:5](h)
        return fc2, self.classifier[5:](fc2)


def missing_weights_message(path: Path) -> str:
    return (f"VGG-16 weights not found: {path} (eval.vgg16_weights). Nothing is downloaded at run "
            f"time: on a machine with internet fetch {WEIGHTS_URL} (torchvision's VGG-16) and copy it "
            f"to {path}.")


def load_vgg16(path: str | Path, sha256: str | None) -> tuple[VGG16, str]:
    """Strictly load the weights file; `sha256=None` skips the checksum. -> (eval-mode net, file sha256)."""
    path = Path(path)
    state, digest = checked_state_dict(path, sha256, "eval.vgg16_sha256", f"the file {WEIGHTS_FILE} from {WEIGHTS_URL}",
                                       missing_weights_message(path), mmap=True)
    with torch.device("meta"):
        net = VGG16()                                     # no memory until the weights are assigned
    try:
        net.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:
        raise ValueError(f"{path}: not the VGG-16 state_dict ({WEIGHTS_FILE} layout): {e}") from None
    return net.eval().requires_grad_(False), digest


class VGGFeatureNet:
    """FeatureNet over VGG-16: fc2 features (4096) and class logits (1000)."""

    def __init__(self, net: VGG16, weights_sha256: str, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.net = net.to(self.device, torch.float32).eval()
        self.dim = net.classifier[3].out_features
        self.num_classes = net.classifier[6].out_features
        self.name = f"vgg16-fc2:{weights_sha256[:16]}"
        self._mean = torch.tensor(MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(STD, device=self.device).view(1, 3, 1, 1)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 3, H, W) -> normalised float (N, 3, 224, 224)."""
        x = images.to(self.device).float() / 255.0
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                          antialias=True)
        return (x - self._mean) / self._std

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.dtype != torch.uint8:
            raise TypeError(f"VGG-16 features take uint8 images, got {images.dtype}")
        with ieee_fp32():
            fc2, logits = self.net(self.prepare(images))
        return fc2.cpu(), logits.cpu()
