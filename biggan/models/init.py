"""Weight initialisation of conv, linear and embedding weights (the paper: orthogonal)."""
from __future__ import annotations

import torch.nn as nn
from torch.nn import init


def init_weights(module: nn.Module, style: str) -> None:
    for m in module.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)) or m.weight.is_meta:
            continue
        if style == "ortho":
            init.orthogonal_(m.weight)
        elif style == "N02":
            init.normal_(m.weight, 0.0, 0.02)
        elif style == "xavier":
            init.xavier_uniform_(m.weight)
        else:
            raise ValueError(f"unknown init {style!r}; allowed: ortho, N02, xavier")
