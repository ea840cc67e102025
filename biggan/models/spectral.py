"""Spectrally normalised conv, linear and embedding layers (Miyato et al. 2018).

W_bar = W / sigma0(W), with sigma0 estimated by power iteration on W reshaped to
(out, -1). The left singular vector u persists in a buffer and is refined by
`num_itrs` steps per training forward pass; `sigma` keeps the last estimate for logging.
With `sn=False` the layers are the plain torch layers (no buffers).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class SpectralNormMixin:
    """Adds power-iteration spectral normalisation to a layer with a `weight`."""

    weight: torch.Tensor
    training: bool

    def _init_sn(self, num_itrs: int, eps: float) -> None:
        self.sn_itrs, self.sn_eps = num_itrs, eps
        u = torch.randn(self.weight.shape[0], device=self.weight.device)
        self.register_buffer("sn_u", F.normalize(u, dim=0, eps=eps))
        self.register_buffer("sn_sigma", torch.ones((), device=self.weight.device))

    def normalized_weight(self) -> torch.Tensor:
        # fp32 throughout, also under bf16 autocast: the layer's op itself may still run in bf16
        with torch.autocast(self.weight.device.type, enabled=False):
            return self._normalized_weight()

    def _normalized_weight(self) -> torch.Tensor:
        w = self.weight
        with torch.no_grad():
            wd = w.detach().reshape(w.shape[0], -1).float()   # (out, in * k * k)
            u = self.sn_u
            for _ in range(self.sn_itrs):
                v = _unit(torch.mv(wd.t(), u), self.sn_eps)   # v = W^T u / ||W^T u||
                wv = torch.mv(wd, v)
                u = _unit(wv, self.sn_eps)                    # u = W v / ||W v||
            sigma = torch.dot(u, wv)                          # sigma0 ~= u^T W v
            if self.training:
                self.sn_u.copy_(u)
                self.sn_sigma.copy_(sigma)
        return _SNDivide.apply(w, u, v, sigma)


def _unit(x: torch.Tensor, eps: float) -> torch.Tensor:
    """x / max(||x||, eps), as F.normalize, in three kernels instead of four."""
    return x / torch.linalg.vector_norm(x).clamp_min_(eps)


class _SNDivide(torch.autograd.Function):
    """W_bar = W / sigma with sigma = u^T W v (u, v constants), as one autograd node.

    Backward: dL/dW = (G - <G, W_bar> u v^T) / sigma, the gradient autograd would get from
    `w / torch.dot(u, W @ v)` in six nodes (reshape, mv, dot, div and their accumulation).
    4-d weights are returned channels-last: oneDNN's convolutions are faster on CPU in that
    layout (measured in BENCHMARKS.md) and propagate it to the activations.
    """

    @staticmethod
    def forward(ctx, w: torch.Tensor, u: torch.Tensor, v: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        w_bar = w / sigma.to(w.dtype)
        ctx.save_for_backward(w_bar, u, v, sigma)
        if w_bar.dim() == 4 and w_bar.device.type == "cpu":
            w_bar = w_bar.contiguous(memory_format=torch.channels_last)
        return w_bar

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        w_bar, u, v, sigma = ctx.saved_tensors
        g = g.contiguous()
        g_mat = g.reshape(g.shape[0], -1)
        c = torch.dot(g_mat.reshape(-1).float(), w_bar.reshape(-1).float())     # <G, W_bar>
        grad = torch.addr(g_mat.float(), u * -c, v).div_(sigma)
        return grad.view(g.shape).to(g.dtype), None, None, None


class SNConv2d(SpectralNormMixin, nn.Conv2d):
    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, padding: int | None = None,
                 bias: bool = True, num_itrs: int = 1, eps: float = 1e-6, **kw):
        padding = kernel_size // 2 if padding is None else padding
        nn.Conv2d.__init__(self, in_ch, out_ch, kernel_size, padding=padding, bias=bias, **kw)
        self._init_sn(num_itrs, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.normalized_weight(), self.bias)


class SNLinear(SpectralNormMixin, nn.Linear):
    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 num_itrs: int = 1, eps: float = 1e-6, **kw):
        nn.Linear.__init__(self, in_features, out_features, bias=bias, **kw)
        self._init_sn(num_itrs, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.normalized_weight(), self.bias)


class SNEmbedding(SpectralNormMixin, nn.Embedding):
    """Embedding with SN over the (num_embeddings, dim) table, as in D's projection."""

    def __init__(self, num_embeddings: int, dim: int, num_itrs: int = 1, eps: float = 1e-6, **kw):
        nn.Embedding.__init__(self, num_embeddings, dim, **kw)
        self._init_sn(num_itrs, eps)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return F.embedding(y, self.normalized_weight())


class LayerFactory:
    """Builds conv/linear/embedding layers with or without SN from one place."""

    def __init__(self, sn: bool, num_itrs: int = 1, eps: float = 1e-6):
        self.sn, self.kw = sn, dict(num_itrs=num_itrs, eps=eps)

    def conv(self, in_ch: int, out_ch: int, kernel_size: int = 3, bias: bool = True) -> nn.Module:
        if self.sn:
            return SNConv2d(in_ch, out_ch, kernel_size, bias=bias, **self.kw)
        return nn.Conv2d(in_ch, out_ch, kernel_size, padding=kernel_size // 2, bias=bias)

    def linear(self, in_f: int, out_f: int, bias: bool = True) -> nn.Module:
        return SNLinear(in_f, out_f, bias=bias, **self.kw) if self.sn else nn.Linear(in_f, out_f, bias=bias)

    def embedding(self, n: int, dim: int) -> nn.Module:
        return SNEmbedding(n, dim, **self.kw) if self.sn else nn.Embedding(n, dim)
