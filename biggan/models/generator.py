"""BigGAN generator: z (and class y) -> image in [-1, 1]."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from biggan.config.model import ModelConfig
from biggan.paper.archs import get_arch
from biggan.models.blocks import Attention, GBlock, make_cbn_factory
from biggan.models.init import init_weights
from biggan.models.norm import BatchNorm2d
from biggan.models.spectral import LayerFactory


class Generator(nn.Module):
    """Linear(z_0) -> (B, g_in[0] ch, 4, 4) -> up-blocks (+attention) -> BN-ReLU-conv3x3-tanh.

    Skip-z (hier): z is split into one chunk per block plus one for the linear; block i's
    CBNs see [shared(y), z_i]. Without skip-z every CBN sees shared(y) (or, without the
    shared embedding, its own class tables).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        arch = get_arch("biggan", cfg.resolution)
        ch, self.bottom_width = cfg.ch, arch.bottom_width
        self.n_classes, self.dim_z, self.hier = cfg.n_classes, cfg.dim_z, cfg.hier
        self.z_chunk = cfg.dim_z // arch.num_z_chunks if cfg.hier else 0
        layers = LayerFactory(cfg.sn.g, cfg.sn.num_itrs, cfg.sn.eps)

        # the shared embedding is a plain table: no SN, no ortho reg
        self.shared = nn.Embedding(cfg.n_classes, cfg.shared_dim) if cfg.shared else None
        linear_in = (cfg.shared_dim if cfg.shared else 0) + self.z_chunk
        make_bn = make_cbn_factory(layers, linear_in, None if cfg.shared else cfg.n_classes,
                                   cfg.bn_eps, cfg.one_centred_gain)

        z0 = self.z_chunk if cfg.hier else cfg.dim_z
        self.linear = layers.linear(z0, arch.g_in[0] * ch * self.bottom_width ** 2)
        self.blocks = nn.ModuleList()
        for cin, cout, res in zip(arch.g_in, arch.g_out, arch.g_res):
            stage = [GBlock(cin * ch, cout * ch, layers, make_bn)]
            if res in cfg.g_attention:
                stage.append(Attention(cout * ch, layers))
            self.blocks.append(nn.ModuleList(stage))
        self.out_bn = BatchNorm2d(arch.g_out[-1] * ch, cfg.bn_eps)
        self.out_conv = layers.conv(arch.g_out[-1] * ch, 3)
        init_weights(self, cfg.init)

    def class_embedding(self, y: torch.Tensor) -> torch.Tensor:
        """(B,) labels -> the class vector G conditions on: shared(y), or one-hot(y)."""
        if self.shared is not None:
            return self.shared(y)
        return F.one_hot(y, self.n_classes).to(self.linear.weight.dtype)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None,
                class_emb: torch.Tensor | None = None) -> torch.Tensor:
        # z: (B, dim_z); y: (B,) or class_emb: (B, shared_dim | n_classes) for interpolation
        c = class_emb if class_emb is not None else self.class_embedding(y)
        if self.hier:
            z0, *zs = torch.split(z, self.z_chunk, dim=1)
        else:
            z0, zs = z, [None] * len(self.blocks)
        onehot = None if self.shared is not None else c
        h = self.linear(z0).view(z.shape[0], -1, self.bottom_width, self.bottom_width)
        for stage, zi in zip(self.blocks, zs):
            parts = ([c] if self.shared is not None else []) + ([zi] if zi is not None else [])
            vec = torch.cat(parts, dim=1) if parts else None
            for block in stage:
                h = block(h, onehot, vec)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))     # (B, 3, res, res)
