"""BigGAN-deep's bottleneck residual blocks (the paper's appendix B, figure 16).

Both blocks: 1x1 conv to a quarter of the wide side's channels, two 3x3 convs, 1x1 conv back.
The shortcut keeps the identity wherever it can: G's drops the channels a narrowing block
loses, D's concatenates the channels a widening block gains (made by a learnable 1x1 conv).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from biggan.models.blocks import _weight
from biggan.models.resample_conv import up2_conv3x3
from biggan.models.spectral import LayerFactory

BOTTLENECK = 4   # bottleneck channels = wide side / 4


class DeepGBlock(nn.Module):
    """CBN-ReLU-conv1x1 (in -> in/4), CBN-ReLU-[up x2]-conv3x3, CBN-ReLU-conv3x3, CBN-ReLU-conv1x1 (-> out).

    Shortcut: x[:, :out], nearest-upsampled where the block upsamples; no parameters.
    """

    def __init__(self, in_ch: int, out_ch: int, layers: LayerFactory, make_bn, up: bool):
        super().__init__()
        if out_ch > in_ch or in_ch < BOTTLENECK:
            raise ValueError(f"a BigGAN-deep G block keeps or narrows its width, with at least {BOTTLENECK} "
                             f"input channels; got {in_ch} -> {out_ch}")
        hidden = in_ch // BOTTLENECK
        self.out_ch, self.up = out_ch, up
        self.bn1, self.conv1 = make_bn(in_ch), layers.conv(in_ch, hidden, kernel_size=1)
        self.bn2, self.conv2 = make_bn(hidden), layers.conv(hidden, hidden)
        self.bn3, self.conv3 = make_bn(hidden), layers.conv(hidden, hidden)
        self.bn4, self.conv4 = make_bn(hidden), layers.conv(hidden, out_ch, kernel_size=1)

    def forward(self, x: torch.Tensor, onehot, vec) -> torch.Tensor:
        # x: (B, in, H, W) -> (B, out, 2H, 2W) if up else (B, out, H, W)
        h = self.conv1(F.relu(self.bn1(x, onehot, vec)))
        h = F.relu(self.bn2(h, onehot, vec))
        # up2_conv3x3 = conv2(up(h)) computed at the low resolution (2.25x fewer FLOPs)
        h = up2_conv3x3(h, _weight(self.conv2), self.conv2.bias) if self.up else self.conv2(h)
        h = self.conv3(F.relu(self.bn3(h, onehot, vec)))
        h = self.conv4(F.relu(self.bn4(h, onehot, vec)))
        x = x[:, :self.out_ch]
        return h + (F.interpolate(x, scale_factor=2, mode="nearest") if self.up else x)


class DeepDBlock(nn.Module):
    """ReLU-conv1x1 (in -> out/4), ReLU-conv3x3, ReLU-conv3x3, ReLU-[avgpool]-conv1x1 (-> out).

    Shortcut: [avgpool] x, concatenated with conv_sc(x) (out - in channels) where the block widens.
    """

    def __init__(self, in_ch: int, out_ch: int, layers: LayerFactory, down: bool):
        super().__init__()
        if out_ch < in_ch or out_ch < BOTTLENECK:
            raise ValueError(f"a BigGAN-deep D block keeps or widens its width, with at least {BOTTLENECK} "
                             f"output channels; got {in_ch} -> {out_ch}")
        hidden = out_ch // BOTTLENECK
        self.down = down
        self.conv1 = layers.conv(in_ch, hidden, kernel_size=1)
        self.conv2 = layers.conv(hidden, hidden)
        self.conv3 = layers.conv(hidden, hidden)
        self.conv4 = layers.conv(hidden, out_ch, kernel_size=1)
        self.conv_sc = layers.conv(in_ch, out_ch - in_ch, kernel_size=1) if out_ch > in_ch else None

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:
            x = F.avg_pool2d(x, 2)
        return x if self.conv_sc is None else torch.cat([x, self.conv_sc(x)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, in, H, W) -> (B, out, H/2, W/2) if down else (B, out, H, W)
        h = self.conv1(F.relu(x))
        h = self.conv3(F.relu(self.conv2(F.relu(h))))
        h = F.relu(h)
        if self.down:
            h = F.avg_pool2d(h, 2)
        return self.conv4(h) + self.shortcut(x)
