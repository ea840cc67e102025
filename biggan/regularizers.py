"""Regularisers of the paper: orthogonal regularisation (G), R1 penalty (D), sigma clamp (G).

Orthogonal regularisation, BigGAN form, with W reshaped to (out, -1) (rows = filters w_i),
at the strength of the author's code (BigGAN-PyTorch `utils.ortho`, and TF's `tf.nn.l2_loss`,
which halves the square): train.ortho.beta = 1e-4 is the paper's and the author's beta, with
    R_beta(W) = beta/2 ||W W^T (.) (1 - I)||_F^2 = beta/2 sum_{i != j} (w_i . w_j)^2
    dR/dW     = 2 beta ((W W^T) (.) (1 - I)) W = 2 beta (W (W^T W) - diag(||w_i||^2) W)
The second form of the gradient avoids the (out x out) Gram matrix when out > in, so the cost
is min(out, in)^2 max(out, in). The value is computed from the masked Gram when out <= in (a
sum of squares, no cancellation); for out > in it is ||W^T W||_F^2 - sum_i ||w_i||^4, a
difference of two large terms, so that path runs in float64.
"""
from __future__ import annotations

import zlib
from typing import Iterable

import torch
import torch.nn as nn


def _rows(w: torch.Tensor) -> torch.Tensor:
    return w.reshape(w.shape[0], -1)


def ortho_value(w: torch.Tensor) -> torch.Tensor:
    """1/2 ||W W^T (.) (1 - I)||_F^2 (R_beta / beta), differentiable, never forming the larger Gram."""
    W = _rows(w)
    if W.shape[0] <= W.shape[1]:
        off = W @ W.t()                                   # (out, out)
        off = off - torch.diag_embed(off.diagonal())      # masked: no cancellation
        return 0.5 * (off * off).sum()
    W64 = W.double()
    gram = W64.t() @ W64                                  # (in, in)
    sq = (W64 * W64).sum(1)                               # ||w_i||^2, (out,)
    return (0.5 * ((gram * gram).sum() - (sq * sq).sum())).to(w.dtype)


@torch.no_grad()
def ortho_grad(w: torch.Tensor) -> torch.Tensor:
    """d ortho_value / dW = 2 ((W W^T) (.) (1 - I)) W, shaped like w (the author's `utils.ortho`)."""
    W = _rows(w)
    if W.shape[0] <= W.shape[1]:
        gram = W @ W.t()
        gram.diagonal().zero_()
        g = 2 * (gram @ W)
    else:
        sq = (W * W).sum(1, keepdim=True)                 # (out, 1)
        g = 2 * (W @ (W.t() @ W) - sq * W)
    return g.view_as(w)


def ortho_params(G: nn.Module) -> list[nn.Parameter]:
    """Every G weight with >= 2 dims except the shared class embedding."""
    shared = {id(p) for p in G.shared.parameters()} if getattr(G, "shared", None) is not None else set()
    return [p for p in G.parameters() if p.dim() >= 2 and id(p) not in shared]


@torch.no_grad()
def apply_ortho_(params: Iterable[nn.Parameter], beta: float) -> float:
    """Add beta * ortho_grad(W) (= dR_beta/dW) to each .grad, after backward and before the
    optimiser step; returns sum_W R_beta(W)."""
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


# Start of the subspace iteration when a weight has no warm start yet (k = 2 triplets + this
# oversampling, as in biggan.spectra.top_svd); cold starts get COLD_FACTOR x the iterations.
OVERSAMPLE, COLD_FACTOR = 4, 4


def _deterministic_start(n: int, q: int, device: torch.device) -> torch.Tensor:
    """(n, q) Gaussian start seeded from its shape only: the same on every data-parallel rank."""
    seed = zlib.crc32(f"sigma-clamp:{n}x{q}".encode())
    return torch.randn(n, q, generator=torch.Generator().manual_seed(seed)).to(device)


@torch.no_grad()
def clamp_sigma_(w: torch.Tensor, mode: str, value: float, state: dict | None = None,
                 iters: int = 8) -> float:
    """W <- W - max(0, sigma0 - clamp) u0 v0^T; clamp = value (fixed) or value * sigma1 (relative).

    The top singular triplets come from `biggan.spectra.top_svd`, warm-started from `state`
    (a dict kept per weight by the caller). The first call starts from a start seeded by the
    weight's shape, not from the global RNG, so replicas holding the same weights (DDP, which
    never re-syncs parameters) clamp them identically. Returns sigma0 before clamping.
    """
    from biggan.spectra import top_svd

    if mode == "off":
        return float("nan")
    W = _rows(w)
    state = {} if state is None else state
    q = 2 + OVERSAMPLE
    cold = state.get("basis") is None or state["basis"].shape != (W.shape[1], q)
    if cold:
        state["basis"] = _deterministic_start(W.shape[1], q, W.device)
    U, S, V = top_svd(W, 2, state, oversample=OVERSAMPLE, iters=iters * (COLD_FACTOR if cold else 1))
    sigma0, sigma1 = float(S[0]), (float(S[1]) if S.numel() > 1 else 0.0)
    clamp = value if mode == "fixed" else value * sigma1
    excess = sigma0 - clamp
    if excess > 0:
        w.sub_((excess * torch.outer(U[:, 0], V[:, 0])).view_as(w).to(w.dtype))
    return sigma0
