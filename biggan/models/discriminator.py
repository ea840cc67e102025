"""BigGAN discriminator: image, class -> real/fake logit (projection discriminator)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from biggan.config.model import ModelConfig
from biggan.paper.archs import RGB, get_arch
from biggan.models.blocks import Attention, DBlock
from biggan.models.init import init_weights
from biggan.models.spectral import LayerFactory


class ProjectionD(nn.Module):
    """The projection discriminator's head, shared by BigGAN's and BigGAN-deep's D:
    features (B, C, h, w) -> ReLU -> global sum pool -> linear + <embed(y), h>."""

    def add_head(self, cfg: ModelConfig, layers: LayerFactory, feat: int) -> None:
        self.linear = layers.linear(feat, 1)
        self.embed = layers.embedding(cfg.n_classes, feat) if cfg.projection else None

    def project(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.relu(h).sum(dim=(2, 3))                                   # (B, C)
        out = self.linear(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(dim=1)
        return out                                                      # (B,) logits


class Discriminator(ProjectionD):
    """Down-blocks (+attention) -> the projection head."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        arch = get_arch("biggan", cfg.resolution)
        ch = cfg.d_channels
        layers = LayerFactory(cfg.sn.d, cfg.sn.num_itrs, cfg.sn.eps)
        self.blocks = nn.ModuleList()
        for i, (cin, cout, down, res) in enumerate(zip(arch.d_in, arch.d_out, arch.d_down, arch.d_res)):
            stage = [DBlock(3 if cin == RGB else cin * ch, cout * ch, layers, down, preactivation=i > 0)]
            if res in cfg.d_attention:
                stage.append(Attention(cout * ch, layers))
            self.blocks.append(nn.Sequential(*stage))
        self.add_head(cfg, layers, arch.d_out[-1] * ch)
        init_weights(self, cfg.init)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # x: (B, 3, res, res) in [-1, 1]; y: (B,) -> (B,) logits
        h = x
        for stage in self.blocks:
            h = stage(h)
        return self.project(h, y)
