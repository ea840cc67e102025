"""Regularisers of the paper: orthogonal regularisation (G), R1 penalty (D), sigma clamp (G).

Orthogonal regularisation, BigGAN form, with W reshaped to (out, -1) (rows = filters w_i):
    R_beta(W) = beta ||W W^T (.) (1 - I)||_F^2 = beta sum_{i != j} (w_i . w_j)^2
computed without the (out x out) Gram matrix when out > in, via
    ||W W^T (.) (1 - I)||_F^2 = ||W^T W||_F^2 - sum_i ||w_i||^4
    dR/dW = 4 beta (W (W^T W) - diag(||w_i||^2) W)            (= 4 beta ((W W^T) (.) (1 - I)) W)
so the cost is min(out, in)^2 max(out, in). (The author's code adds 2 beta ((W W^T)(.)(1-I)) W,
half the exact gradient, so its beta = 1e-4 equals ours at 0.5e-4.)
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn as nn


def _rows(w: torch.Tensor) -> torch.Tensor:
    return w.reshape(w.shape[0], -1)


def ortho_value(w: torch.Tensor) -> torch.Tensor:
    """||W W^T (.) (1 - I)||_F^2, differentiable, never forming the larger Gram matrix."""
    W = _rows(w)
    sq = (W * W).sum(1)                                   # ||w_i||^2, (out,)
    if W.shape[0] <= W.shape[1]:
        gram = W @ W.t()                                  # (out, out)
        return (gram * gram).sum() - (sq * sq).sum()
    gram = W.t() @ W                                      # (in, in)
    return (gram * gram).sum() - (sq * sq).sum()


@torch.no_grad()
def ortho_grad(w: torch.Tensor) -> torch.Tensor:
    """d/dW ||W W^T (.) (1 - I)||_F^2, shaped like w."""
    W = _rows(w)
    sq = (W * W).sum(1, keepdim=True)                     # (out, 1)
    if W.shape[0] <= W.shape[1]:
        gram = W @ W.t()
        gram.diagonal().zero_()
        g = 4 * (gram @ W)
    else:
        g = 4 * (W @ (W.t() @ W) - sq * W)
    return g.view_as(w)


def ortho_params(G: nn.Module) -> list[nn.Parameter]:
    """Every G weight with >= 2 dims except the shared class embedding."""
    shared = {id(p) for p in G.shared.parameters()} if getattr(G, "shared", None) is not None else set()
    return [p for p in G.parameters() if p.dim() >= 2 and id(p) not in shared]


@torch.no_grad()
def apply_ortho_(params: Iterable[nn.Parameter], beta: float) -> float:
    """Add beta * dR/dW to each .grad (after backward, before the optimiser step); returns R_beta."""
    total = 0.0
    for p in params:
        if p.grad is None:
            continue
        w = p.detach().float()
        p.grad.add_(ortho_grad(w).to(p.grad.dtype), alpha=beta)
        total += float(ortho_value(w))
    return beta * total


def r1_penalty(d_real: torch.Tensor, x_real: torch.Tensor, gamma: float) -> torch.Tensor:
    """Zero-centred gradient penalty on real data: gamma/2 E ||grad_x D(x)||^2 (x_real.requires_grad)."""
    (grad,) = torch.autograd.grad(d_real.sum(), x_real, create_graph=True)
    return 0.5 * gamma * grad.pow(2).reshape(grad.shape[0], -1).sum(1).mean()


@torch.no_grad()
def clamp_sigma_(w: torch.Tensor, mode: str, value: float, state: dict | None = None,
                 iters: int = 8) -> float:
    """W <- W - max(0, sigma0 - clamp) u0 v0^T; clamp = value (fixed) or value * sigma1 (relative).

    The top singular triplets come from `biggan.spectra.top_svd`, warm-started from `state`
    (a dict kept per weight by the caller). Returns sigma0 before clamping.
    """
    from biggan.spectra import top_svd

    if mode == "off":
        return float("nan")
    U, S, V = top_svd(_rows(w), 2, state, iters=iters)
    sigma0, sigma1 = float(S[0]), (float(S[1]) if S.numel() > 1 else 0.0)
    clamp = value if mode == "fixed" else value * sigma1
    excess = sigma0 - clamp
    if excess > 0:
        w.sub_((excess * torch.outer(U[:, 0], V[:, 0])).view_as(w).to(w.dtype))
    return sigma0
