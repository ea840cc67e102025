"""BatchNorm for G: unconditional (output layer) and class-conditional (every G block).

Training statistics come from the local batch unless `stats_reducer` is set: then
[sum x, sum x^2, count] are summed by it (an autograd-aware all-reduce installed from
outside the model by `biggan.parallel.cross_replica`), so mean and variance are those of
the global batch over all replicas, and so are the gradients.

`momentum = None` switches the running statistics to a cumulative average: that is how
standing statistics are accumulated (`biggan.ema.standing_stats`).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

StatsReducer = Callable[[torch.Tensor], torch.Tensor]


class BatchStats(nn.Module):
    """Normalisation without affine parameters; holds running statistics."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.stats_reducer: StatsReducer | None = None
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))

    def reset_running_stats(self) -> None:
        self.running_mean.zero_()
        self.running_var.fill_(1)
        self.num_batches_tracked.zero_()

    def _factor(self) -> float:
        self.num_batches_tracked.add_(1)
        if self.momentum is None:  # cumulative moving average
            return 1.0 / float(self.num_batches_tracked)
        return self.momentum

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, None, None, False, 0.0, self.eps)
        if self.stats_reducer is None:
            return F.batch_norm(x, self.running_mean, self.running_var, None, None, True,
                                self._factor(), self.eps)
        return self._normalize_global(x)

    def _normalize_global(self, x: torch.Tensor) -> torch.Tensor:
        C = self.num_features
        xf = x.float()
        dims = [0] + list(range(2, x.dim()))
        count = torch.full((1,), x.numel() / C, dtype=xf.dtype, device=x.device)
        stats = torch.cat([xf.sum(dims), (xf * xf).sum(dims), count])   # (2C + 1,)
        stats = self.stats_reducer(stats)
        n = stats[2 * C]
        mean = stats[:C] / n
        var = (stats[C:2 * C] / n - mean * mean).clamp_min(0)           # biased, for normalising
        with torch.no_grad():
            f = self._factor()
            self.running_mean.mul_(1 - f).add_(mean.detach(), alpha=f)
            self.running_var.mul_(1 - f).add_(var.detach() * (n / (n - 1).clamp_min(1)), alpha=f)
        shape = (1, C) + (1,) * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return y.to(x.dtype)


class BatchNorm2d(BatchStats):
    """Unconditional BN with learned gain and bias (G's output layer)."""

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__(num_features, eps)
        self.gain = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalize(x) * self.gain.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class ConditionalBatchNorm2d(BatchStats):
    """Class-conditional BN: out = BN(x) * (1 + W_g c) + W_b c, per sample.

    Shared embedding (BigGAN): c = [shared(y), z_i] feeds SN linears without bias.
    Without it, each CBN owns a per-class gain and bias table (one row per class),
    read by the (soft) one-hot class vector; with skip-z, z_i adds its own linear.
    """

    def __init__(self, num_features: int, linear_in: int, n_classes: int | None,
                 make_linear, eps: float = 1e-5, one_centred: bool = True):
        super().__init__(num_features, eps)
        self.one_centred = one_centred
        self.gain = make_linear(linear_in, num_features, bias=False) if linear_in else None
        self.bias = make_linear(linear_in, num_features, bias=False) if linear_in else None
        if n_classes:
            self.gain_table = nn.Embedding(n_classes, num_features)
            self.bias_table = nn.Embedding(n_classes, num_features)
        else:
            self.gain_table = self.bias_table = None

    def forward(self, x: torch.Tensor, onehot: torch.Tensor | None, vec: torch.Tensor | None) -> torch.Tensor:
        # onehot: (B, n_classes) soft class vector for the tables; vec: (B, linear_in)
        gain = torch.ones((), device=x.device) if self.one_centred else torch.zeros((), device=x.device)
        bias = torch.zeros((), device=x.device)
        if self.gain_table is not None:
            gain = gain + onehot @ self.gain_table.weight
            bias = bias + onehot @ self.bias_table.weight
        if self.gain is not None:
            gain = gain + self.gain(vec)
            bias = bias + self.bias(vec)
        return self.normalize(x) * gain.view(x.shape[0], -1, 1, 1) + bias.view(x.shape[0], -1, 1, 1)
