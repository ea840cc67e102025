"""Residual blocks of G and D and the SAGAN self-attention block."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from biggan.models.norm import ConditionalBatchNorm2d
from biggan.models.spectral import LayerFactory, SpectralNormMixin
from biggan.models.resample_conv import conv3x3_pool2, up2_conv3x3


class GBlock(nn.Module):
    """CBN-ReLU-up(nearest x2)-conv3x3-CBN-ReLU-conv3x3, shortcut up + conv1x1.

    Both convs at the upsampling are computed at the low resolution with the same mathematics
    (up2_conv3x3; conv1x1 before the upsample); parameters and state_dict keys are unchanged.
    """

    def __init__(self, in_ch: int, out_ch: int, layers: LayerFactory, make_bn):
        super().__init__()
        self.bn1 = make_bn(in_ch)
        self.conv1 = layers.conv(in_ch, out_ch)
        self.bn2 = make_bn(out_ch)
        self.conv2 = layers.conv(out_ch, out_ch)
        self.conv_sc = layers.conv(in_ch, out_ch, kernel_size=1)   # always learnable: it upsamples

    def forward(self, x: torch.Tensor, onehot, vec) -> torch.Tensor:
        # x: (B, in, H, W) -> (B, out, 2H, 2W)
        h = F.relu(self.bn1(x, onehot, vec))
        h = up2_conv3x3(h, _weight(self.conv1), self.conv1.bias)   # = conv1(up(h)), 2.25x fewer FLOPs
        h = self.conv2(F.relu(self.bn2(h, onehot, vec)))
        # a 1x1 conv commutes with nearest upsampling: convolve the 4x fewer low-res pixels
        return h + F.interpolate(self.conv_sc(x), scale_factor=2, mode="nearest")


def _weight(conv: nn.Conv2d) -> torch.Tensor:
    """The weight a conv layer's own forward would use (spectrally normalised if SN)."""
    return conv.normalized_weight() if isinstance(conv, SpectralNormMixin) else conv.weight


class DBlock(nn.Module):
    """[ReLU]-conv3x3-ReLU-conv3x3-[avgpool]; shortcut [avgpool]-conv1x1 where shapes change.

    The first block has no leading ReLU (it sees the image). A 1x1 conv and a 2x2 average
    pool commute, so the shortcut always pools first (4x fewer pixels to convolve); conv2 and
    the pool run as one stride-2 conv (conv3x3_pool2, 2.25x fewer FLOPs, same parameters).
    """

    def __init__(self, in_ch: int, out_ch: int, layers: LayerFactory, down: bool, preactivation: bool):
        super().__init__()
        self.down, self.preactivation = down, preactivation
        self.conv1 = layers.conv(in_ch, out_ch)
        self.conv2 = layers.conv(out_ch, out_ch)
        self.conv_sc = layers.conv(in_ch, out_ch, kernel_size=1) if (in_ch != out_ch or down) else None

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:
            x = F.avg_pool2d(x, 2)
        return self.conv_sc(x) if self.conv_sc is not None else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = F.relu(self.conv1(h))
        h = conv3x3_pool2(h, _weight(self.conv2), self.conv2.bias) if self.down else self.conv2(h)
        return h + self.shortcut(x)


class Attention(nn.Module):
    """Non-local block: theta, phi (C/8), g (C/2) 1x1 convs, 2x2 max-pool on phi and g, gamma = 0."""

    def __init__(self, ch: int, layers: LayerFactory):
        super().__init__()
        self.ch = ch
        self.theta = layers.conv(ch, ch // 8, kernel_size=1, bias=False)
        self.phi = layers.conv(ch, ch // 8, kernel_size=1, bias=False)
        self.g = layers.conv(ch, ch // 2, kernel_size=1, bias=False)
        self.o = layers.conv(ch // 2, ch, kernel_size=1, bias=False)
        self.gamma = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor, *unused) -> torch.Tensor:
        B, C, H, W = x.shape
        theta = self.theta(x).view(B, C // 8, H * W)                        # (B, C/8, N)
        phi = F.max_pool2d(self.phi(x), 2).view(B, C // 8, H * W // 4)       # (B, C/8, N/4)
        g = F.max_pool2d(self.g(x), 2).view(B, C // 2, H * W // 4)           # (B, C/2, N/4)
        beta = F.softmax(theta.transpose(1, 2) @ phi, dim=-1)                # (B, N, N/4)
        o = self.o((g @ beta.transpose(1, 2)).view(B, C // 2, H, W))
        return x + self.gamma * o


def make_cbn_factory(layers: LayerFactory, linear_in: int, n_classes: int | None,
                     eps: float, one_centred: bool):
    def make(ch: int) -> ConditionalBatchNorm2d:
        return ConditionalBatchNorm2d(ch, linear_in, n_classes, layers.linear, eps, one_centred)
    return make
