"""BigGAN-deep (the paper's appendix B): G and D of bottleneck blocks, `depth` per resolution.

Conditioning: the whole z, concatenated with the shared class embedding, feeds every CBN
(c = [z, shared(y)], no skip-z split) and G's first linear. Same SN, CBN, self-attention,
orthogonal init and projection D as BigGAN (biggan.models.blocks / norm / spectral / init).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from biggan.config.model import ModelConfig
from biggan.paper.archs import get_arch
from biggan.models.blocks import Attention, make_cbn_factory
from biggan.models.deep_blocks import DeepDBlock, DeepGBlock
from biggan.models.discriminator import ProjectionD
from biggan.models.init import init_weights
from biggan.models.norm import BatchNorm2d
from biggan.models.spectral import LayerFactory


class DeepGenerator(nn.Module):
    """Linear([z, c]) -> (B, g_in[0] ch, 4, 4) -> stages of `g_depth` blocks (+attention) -> BN-ReLU-conv3x3-tanh."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        arch = get_arch("biggan_deep", cfg.resolution)
        ch, depth, self.bottom_width = cfg.ch, cfg.depth_g, arch.bottom_width
        self.n_classes, self.dim_z = cfg.n_classes, cfg.dim_z
        layers = LayerFactory(cfg.sn.g, cfg.sn.num_itrs, cfg.sn.eps)

        self.shared = nn.Embedding(cfg.n_classes, cfg.shared_dim)      # plain table: no SN, no ortho reg
        cond = cfg.dim_z + cfg.shared_dim
        make_bn = make_cbn_factory(layers, cond, None, cfg.bn_eps, cfg.one_centred_gain)
        self.linear = layers.linear(cond, arch.g_in[0] * ch * self.bottom_width ** 2)
        self.blocks = nn.ModuleList()
        for cin, cout, res in zip(arch.g_in, arch.g_out, arch.g_res):
            # all but the last block keep the width; the last narrows and upsamples
            stage = [DeepGBlock(cin * ch, cin * ch, layers, make_bn, up=False) for _ in range(depth - 1)]
            stage.append(DeepGBlock(cin * ch, cout * ch, layers, make_bn, up=True))
            if res in cfg.g_attention:
                stage.append(Attention(cout * ch, layers))
            self.blocks.append(nn.ModuleList(stage))
        self.out_bn = BatchNorm2d(arch.g_out[-1] * ch, cfg.bn_eps)
        # the author's BigGANdeep.py convolves to 128 channels and keeps the first 3 (rgb_conv_channels)
        self.out_conv = layers.conv(arch.g_out[-1] * ch, cfg.rgb_conv_channels)
        init_weights(self, cfg.init)

    def class_embedding(self, y: torch.Tensor) -> torch.Tensor:
        """(B,) labels -> shared(y), the class vector G conditions on."""
        return self.shared(y)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None,
                class_emb: torch.Tensor | None = None) -> torch.Tensor:
        # z: (B, dim_z); y: (B,) or class_emb: (B, shared_dim) for interpolation
        c = class_emb if class_emb is not None else self.shared(y)
        vec = torch.cat([z, c], dim=1)                                    # (B, dim_z + shared_dim)
        h = self.linear(vec).view(z.shape[0], -1, self.bottom_width, self.bottom_width)
        for stage in self.blocks:
            for block in stage:
                h = block(h, None, vec)
        h = self.out_conv(F.relu(self.out_bn(h)))[:, :3]
        return torch.tanh(h)                                             # (B, 3, res, res)


class DeepDiscriminator(ProjectionD):
    """conv3x3 stem -> stages of `d_depth` blocks (+attention) -> the projection head."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        arch = get_arch("biggan_deep", cfg.resolution)
        ch, depth = cfg.d_channels, cfg.depth_d
        layers = LayerFactory(cfg.sn.d, cfg.sn.num_itrs, cfg.sn.eps)
        self.stem = layers.conv(3, arch.d_in[0] * ch)
        self.blocks = nn.ModuleList()
        for cin, cout, down, res in zip(arch.d_in, arch.d_out, arch.d_down, arch.d_res):
            # the first block widens (and pools); the others keep the width
            stage = [DeepDBlock(cin * ch if i == 0 else cout * ch, cout * ch, layers, down=down and i == 0)
                     for i in range(depth)]
            if res in cfg.d_attention:
                stage.append(Attention(cout * ch, layers))
            self.blocks.append(nn.Sequential(*stage))
        self.add_head(cfg, layers, arch.d_out[-1] * ch)
        init_weights(self, cfg.init)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # x: (B, 3, res, res) in [-1, 1]; y: (B,) -> (B,) logits
        h = self.stem(x)
        for stage in self.blocks:
            h = stage(h)
        return self.project(h, y)
