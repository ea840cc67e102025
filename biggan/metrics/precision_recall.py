"""Improved precision and recall (Kynkaanniemi et al. 2019, k-NN feature manifolds).

The manifold of a set is the union of balls around its points, each with the radius of the
distance to the point's k-th nearest neighbour in the same set. precision = fraction of
generated points inside the real manifold; recall = fraction of real points inside the
generated manifold. The paper reads IS as a precision-like and FID as a recall-like measure.
"""
from __future__ import annotations

import numpy as np
import torch


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    d = (a * a).sum(1, keepdim=True) + (b * b).sum(1) - 2.0 * a @ b.T
    return d.clamp_(min=0)


def knn_radii(x: torch.Tensor, k: int, chunk: int = 1024) -> torch.Tensor:
    """Squared distance of each point to its k-th nearest neighbour in x (itself excluded)."""
    if len(x) <= k:
        raise ValueError(f"k-NN radii with k={k} need more than {k} points, got {len(x)}")
    out = []
    for i in range(0, len(x), chunk):
        d = _sq_dists(x[i:i + chunk], x)
        d[torch.arange(d.shape[0]), torch.arange(i, i + d.shape[0])] = 0.0
        out.append(d.kthvalue(k + 1, dim=1).values)   # k+1: the point itself is at distance 0
    return torch.cat(out)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3, chunk: int = 1024) -> tuple[float, float]:
    """(N_r, D) real and (N_g, D) generated features -> (precision, recall)."""
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature shapes do not match: real {real.shape}, fake {fake.shape}")
    centre = real.mean(axis=0, dtype=np.float64)      # smaller norms: less rounding in |a|^2 + |b|^2 - 2ab
    r = torch.from_numpy((real - centre).astype(np.float32))
    g = torch.from_numpy((fake - centre).astype(np.float32))
    r_radii, g_radii = knn_radii(r, k, chunk), knn_radii(g, k, chunk)
    in_real = torch.zeros(len(g), dtype=torch.bool)   # generated point inside the real manifold
    in_fake = torch.zeros(len(r), dtype=torch.bool)   # real point inside the generated manifold
    for i in range(0, len(g), chunk):
        d = _sq_dists(g[i:i + chunk], r)               # (chunk, N_r), computed once for both
        in_real[i:i + chunk] = (d <= r_radii).any(1)
        in_fake |= (d <= g_radii[i:i + chunk, None]).any(0)
    return in_real.float().mean().item(), in_fake.float().mean().item()
