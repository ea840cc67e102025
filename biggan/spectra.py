"""Top singular values of every weight matrix of G and D (paper section 4).

Conv kernels are reshaped to (out, in * kh * kw). Small matrices get an exact SVD; larger
ones a block power (subspace) iteration on the smaller side with a Rayleigh-Ritz step,
warm-started from the previous call's basis so a few iterations suffice when it runs every
few hundred training steps (or every step, for the sigma clamp).
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn as nn

EXACT_MAX = 256  # min(out, in) up to which a full SVD is used directly


def weight_matrices(model: nn.Module) -> dict[str, torch.Tensor]:
    """name -> raw weight (>= 2 dims) of every conv/linear/embedding, excluding G's shared embedding."""
    out = {}
    for name, p in model.named_parameters():
        if p.dim() >= 2 and not name.startswith("shared."):
            out[name.removesuffix(".weight")] = p
    return out


# class-conditional BatchNorm's gain and bias tables: embeddings, not the weights whose spectra
# section 4 tracks
BN_TABLES = (".gain", ".bias", "gain_table", "bias_table")


def weight_sigma0(sigma0: Mapping[str, float]) -> float | None:
    """Max top singular value over a net's conv and linear weights ({layer: sigma0}, BatchNorm
    tables left out): the collapse detector's and the claims' statistic."""
    vals = [v for k, v in sigma0.items() if not k.endswith(BN_TABLES)]
    return max(vals) if vals else None


@torch.no_grad()
def top_svd(W: torch.Tensor, k: int, state: dict | None = None, oversample: int = 4, iters: int = 8,
            tol: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-k singular triplets (U (m,k), S (k,), V (n,k)) of a 2-D W; `state` keeps the warm start."""
    W = W.float()
    if min(W.shape) <= max(EXACT_MAX, k + oversample):
        U, S, Vh = torch.linalg.svd(W, full_matrices=False)
        return U[:, :k], S[:k], Vh[:k].t()
    q = k + oversample
    Q = state.get("basis") if state is not None else None
    first = Q is None or Q.shape != (W.shape[1], q)
    if first:
        Q = torch.linalg.qr(torch.randn(W.shape[1], q, device=W.device))[0]
    prev = None
    for _ in range(iters * (4 if first else 1)):
        Q = torch.linalg.qr(W.t() @ (W @ Q))[0]              # right singular subspace, (n, q)
        U, S, Vh = torch.linalg.svd(W @ Q, full_matrices=False)   # Rayleigh-Ritz
        if prev is not None and torch.max(torch.abs(S[:k] - prev) / S[:k].clamp_min(1e-12)) < tol:
            break
        prev = S[:k]
    if state is not None:
        state["basis"] = Q
    V = Q @ Vh.t()
    return U[:, :k], S[:k], V[:, :k]


class SpectraTracker:
    """Keeps one warm start per layer; `__call__` returns name -> top-k singular values."""

    def __init__(self, k: int = 3):
        self.k = k
        self.states: dict[str, dict] = {}

    def top(self, name: str, w: torch.Tensor) -> torch.Tensor:
        W = w.detach().reshape(w.shape[0], -1)
        if W.shape[0] > W.shape[1]:
            W = W.t()                                           # iterate on the smaller side
        return top_svd(W, self.k, self.states.setdefault(name, {}))[1]

    def __call__(self, model: nn.Module) -> dict[str, list[float]]:
        return {name: self.top(name, w).tolist() for name, w in weight_matrices(model).items()}
