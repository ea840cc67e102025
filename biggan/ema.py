"""Exponential moving average of G's weights, and standing BatchNorm statistics.

theta_ema <- decay * theta_ema + (1 - decay) * theta, from iteration `start` on; before it
G_ema is a copy of G (the paper: decay 0.9999 from 20k). Buffers (BN running statistics,
SN vectors) are copied from G or averaged like the weights, by policy.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn as nn

from biggan.models.norm import BatchStats


class EMA:
    def __init__(self, model: nn.Module, decay: float, start: int = 0, buffers: str = "copy"):
        if buffers not in ("copy", "average"):
            raise ValueError(f"unknown EMA buffer policy {buffers!r}; allowed: copy, average")
        self.decay, self.start, self.buffers = decay, start, buffers
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, iteration: int) -> None:
        # one multi-tensor kernel per list, as torch.optim.swa_utils' EMA does, not one per tensor
        w = 1.0 - (self.decay if iteration >= self.start else 0.0)
        torch._foreach_lerp_(list(self.model.parameters()), [p.detach() for p in model.parameters()], w)
        if self.buffers == "copy":
            torch._foreach_copy_(list(self.model.buffers()), list(model.buffers()))
            return
        pairs = list(zip(self.model.buffers(), model.buffers()))
        floats = [(e, b) for e, b in pairs if e.is_floating_point()]
        if floats:
            torch._foreach_lerp_([e for e, _ in floats], [b for _, b in floats], w)
        for e, b in pairs:
            if not e.is_floating_point():
                e.copy_(b)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)


@torch.no_grad()
def standing_stats(G: nn.Module, sample_inputs: Callable[[], tuple], passes: int) -> None:
    """Reset G's BN statistics and replace them by their average over `passes` forward passes.

    Only the BatchNorm layers run in training mode (accumulating a cumulative mean of the
    batch statistics); everything else, e.g. the SN power iteration, stays in eval mode.
    `sample_inputs()` returns the (z, y) of one batch. G is left in eval mode.
    """
    G.eval()
    bns = [m for m in G.modules() if isinstance(m, BatchStats)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        for _ in range(passes):
            G(*sample_inputs())
    finally:
        for m, mom in zip(bns, saved):
            m.momentum = mom
            m.eval()
