"""Model construction and parameter summaries (instant on the meta device)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from biggan.config.model import ModelConfig
from biggan.models.deep import DeepDiscriminator, DeepGenerator
from biggan.models.discriminator import Discriminator
from biggan.models.generator import Generator

# model.arch -> (G, D) classes
ARCHITECTURES: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "biggan": (Generator, Discriminator),
    "biggan_deep": (DeepGenerator, DeepDiscriminator),
}


def build_generator(cfg: ModelConfig, device: str | torch.device = "cpu") -> nn.Module:
    with torch.device(device):
        return ARCHITECTURES[cfg.arch][0](cfg)


def build_discriminator(cfg: ModelConfig, device: str | torch.device = "cpu") -> nn.Module:
    with torch.device(device):
        return ARCHITECTURES[cfg.arch][1](cfg)


def count(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


@dataclass(frozen=True)
class ModelSummary:
    arch: str
    resolution: int
    ch: int
    d_ch: int
    g_params: int             # includes the shared embedding
    d_params: int
    shared_embedding: int
    g_blocks: int
    d_blocks: int

    @property
    def paper_params_m(self) -> float:
        """Table 1's "Param (M)": G + D without the shared class embedding."""
        return (self.g_params + self.d_params - self.shared_embedding) / 1e6

    def as_dict(self) -> dict:
        return {**asdict(self), "paper_params_m": round(self.paper_params_m, 2)}


def summarize(cfg: ModelConfig) -> ModelSummary:
    G = build_generator(cfg, "meta")
    D = build_discriminator(cfg, "meta")
    return ModelSummary(cfg.arch, cfg.resolution, cfg.ch, cfg.d_channels, count(G), count(D), count(G.shared),
                        len(G.blocks), len(D.blocks))
