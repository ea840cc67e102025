"""Truncated-normal latents, the paper's convention: z ~ N(0, I), and every component with
|z_i| > threshold is resampled until it falls inside. threshold None = no truncation;
threshold 0 is the limit of the distribution, z = 0 (all samples at the mode).

Resampling until inside yields N(0, 1) conditioned on |z| <= t, which is drawn here in one
pass by the inverse CDF: z = Phi^-1(Phi(-t) + u (Phi(t) - Phi(-t))), u ~ U(0, 1). (A
resampling loop needs ~1/P(|z| <= t) rounds: ~350 at t = 0.04.)
"""
from __future__ import annotations

import torch


def truncated_normal(shape: tuple[int, ...], threshold: float | None, generator: torch.Generator | None = None,
                     device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    if threshold is None:
        return torch.randn(shape, generator=generator, device=device, dtype=dtype)
    if threshold < 0:
        raise ValueError(f"truncation threshold must be >= 0 or None, got {threshold}")
    if threshold == 0:
        return torch.zeros(shape, device=device, dtype=dtype)
    u = torch.rand(shape, generator=generator, device=device, dtype=torch.float64)
    lo = torch.special.ndtr(torch.tensor(-float(threshold), dtype=torch.float64))
    z = torch.special.ndtri(lo + u * (1 - 2 * lo))          # Phi(t) - Phi(-t) = 1 - 2 Phi(-t)
    return z.clamp_(-threshold, threshold).to(dtype)

