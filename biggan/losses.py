"""Hinge losses (Lim & Ye 2017; Miyato et al. 2018), as used by BigGAN."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def d_hinge(d_real: torch.Tensor, d_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """L_D = E[relu(1 - D(x, y))] + E[relu(1 + D(G(z), y))]; returns the two terms."""
    return F.relu(1.0 - d_real).mean(), F.relu(1.0 + d_fake).mean()


def g_hinge(d_fake: torch.Tensor) -> torch.Tensor:
    """L_G = -E[D(G(z), y)]."""
    return -d_fake.mean()
