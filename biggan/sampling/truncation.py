"""Truncated-normal latents, the paper's convention: z ~ N(0, I), and every component with
|z_i| > threshold is resampled until it falls inside. threshold None = no truncation;
threshold 0 is the limit of the distribution, z = 0 (all samples at the mode).
"""
from __future__ import annotations

import torch


def truncated_normal(shape: tuple[int, ...], threshold: float | None, generator: torch.Generator | None = None,
                     device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    z = torch.randn(shape, generator=generator, device=device, dtype=dtype)
    if threshold is None:
        return z
    if threshold < 0:
        raise ValueError(f"truncation threshold must be >= 0 or None, got {threshold}")
    if threshold == 0:
        return torch.zeros(shape, device=device, dtype=dtype)
    out = z.flatten()
    idx = (out.abs() > threshold).nonzero().squeeze(1)
    while idx.numel():
        fresh = torch.randn(idx.numel(), generator=generator, device=device, dtype=dtype)
        out[idx] = fresh
        idx = idx[fresh.abs() > threshold]
    return out.view(shape)


def sample_latents(n: int, dim_z: int, n_classes: int, threshold: float | None, seed: int,
                   device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Reproducible (z, y): z truncated at `threshold`, y uniform over classes."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    z = truncated_normal((n, dim_z), threshold, g)
    y = torch.randint(0, n_classes, (n,), generator=g)
    return z.to(device), y.to(device)
