"""Residual blocks of G and D and the SAGAN self-attention block."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from biggan.models.norm import ConditionalBatchNorm2d
from biggan.models.spectral import LayerFactory


class GBlock(nn.Module):
    """CBN-ReLU-up(nearest x2)-conv3x3-CBN-ReLU-conv3x3, shortcut up + conv1x1."""

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
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.conv1(h)
        h = self.conv2(F.relu(self.bn2(h, onehot, vec)))
        return h + self.conv_sc(F.interpolate(x, scale_factor=2, mode="nearest"))


class DBlock(nn.Module):
    """[ReLU]-conv3x3-ReLU-conv3x3-[avgpool]; shortcut [avgpool]-conv1x1 where shapes change.

    The first block has no leading ReLU (it sees the image). A 1x1 conv and a 2x2 average
    pool commute, so the shortcut always pools first (4x fewer pixels to convolve).
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
        h = self.conv2(F.relu(self.conv1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
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
