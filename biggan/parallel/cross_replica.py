"""Cross-replica BatchNorm: G's batch statistics over every replica's samples.

torch.nn.SyncBatchNorm refuses CPU modules under DDP, so the model's own BatchNorm layers
(`biggan.models.norm.BatchStats`) take a `stats_reducer`; this module installs one that
all-reduces [sum x, sum x^2, count] across the process group. The all-reduce is an
autograd function whose backward is again a sum all-reduce: every replica's loss depends
on every replica's statistics, so the gradient w.r.t. the local sums is the sum of the
gradients of all replicas. Works on gloo (CPU) and NCCL (GPU).
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn as nn

from biggan.models.norm import BatchStats


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, group) -> torch.Tensor:
        ctx.group = group
        y = x.clone()
        dist.all_reduce(y, op=dist.ReduceOp.SUM, group=group)
        return y

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        g = g.clone()
        dist.all_reduce(g, op=dist.ReduceOp.SUM, group=ctx.group)
        return g, None


class AllReduceStats:
    def __init__(self, group=None):
        self.group = group

    def __call__(self, stats: torch.Tensor) -> torch.Tensor:
        return _AllReduceSum.apply(stats, self.group)

    def __deepcopy__(self, memo) -> "AllReduceStats":
        return self  # process groups are not copyable; a copied model shares the group


def enable_cross_replica_bn(model: nn.Module, group=None) -> int:
    """Make every BatchNorm of `model` use global statistics; returns how many were converted.

    A no-op (returns 0) when torch.distributed is not initialised or the group has one member.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size(group) < 2:
        return 0
    n = 0
    for m in model.modules():
        if isinstance(m, BatchStats):
            m.stats_reducer = AllReduceStats(group)
            n += 1
    return n
