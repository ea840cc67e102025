"""A generator's IS/FID scored by all ranks of a torch.distributed group together.

The single-process scorer draws n samples as ceil(n / B) batches of B (the last one shorter)
from one stateful `sample_fn`. Here the batches are cut into `world` contiguous blocks, rank r
taking batches [r nb / world, (r + 1) nb / world) of nb: it draws the latents of the batches
before its block without running G (`sample_fn.skip(b)`), generates and extracts its own, and
the features are all-gathered in rank order. Every batch is generated with the same latents
and the same shape as in one process, so the gathered features are the single-process ones, in
the same order (IS splits depend on it). Rank 0 scores them; every rank gets its scores.

Ranks hold different numbers of samples (any n, any world size; a rank may hold none): counts
are gathered first and each rank's features padded to the largest count for `all_gather`.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch
import torch.distributed as dist

from biggan.metrics.feature_net import Features
from biggan.metrics.images import quantize
from biggan.metrics.scorer import Scorer, check_sample


class SkippableSampleFn(Protocol):
    def __call__(self, b: int) -> torch.Tensor:
        """The next b images, float (b, 3, H, W) in [-1, 1]."""
        ...

    def skip(self, b: int) -> None:
        """Advance past the next b images without generating them."""
        ...


def batch_block(n: int, batch_size: int, rank: int, world: int) -> range:
    """The indices of the batches (of ceil(n / batch_size)) that `rank` generates."""
    nb = -(-n // batch_size)
    return range(rank * nb // world, (rank + 1) * nb // world)


@torch.no_grad()
def generated_block(sample_fn: SkippableSampleFn, n: int, batch_size: int, rank: int,
                    world: int) -> Iterator[torch.Tensor]:
    """uint8 batches of this rank's block; the stream before it is skipped, the rest not drawn."""
    mine = batch_block(n, batch_size, rank, world)
    if mine and mine.start > 0 and not callable(getattr(sample_fn, "skip", None)):
        raise TypeError("sample_fn needs a skip(b) method to be split across ranks "
                        "(see biggan.train.monitoring.LatentSampler)")
    for k in range(mine.stop):
        b = min(batch_size, n - k * batch_size)
        if k < mine.start:
            sample_fn.skip(b)
        else:
            yield quantize(check_sample(sample_fn(b), b))


def _comm_device() -> torch.device:
    """NCCL moves CUDA tensors only; gloo CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_gather_rows(local: np.ndarray) -> np.ndarray:
    """(n_r, D) float32 on each rank -> (sum n_r, D) on every rank, rows in rank order."""
    dev, world = _comm_device(), dist.get_world_size()
    counts = [torch.zeros(1, dtype=torch.int64, device=dev) for _ in range(world)]
    dist.all_gather(counts, torch.tensor([len(local)], dtype=torch.int64, device=dev))
    counts = [int(c) for c in counts]
    padded = torch.zeros(max(counts), local.shape[1], dtype=torch.float32, device=dev)
    padded[:len(local)] = torch.from_numpy(np.ascontiguousarray(local, dtype=np.float32)).to(dev)
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:c] for p, c in zip(parts, counts)]).cpu().numpy()


class ShardedScorer:
    """`Scorer.score_generator` spread over the ranks of the default process group; every rank
    calls it collectively with the same arguments (and a sample_fn seeded the same way)."""

    def __init__(self, scorer: Scorer):
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError("ShardedScorer needs an initialised torch.distributed process group")
        self.scorer = scorer
        self.rank, self.world = dist.get_rank(), dist.get_world_size()

    def _empty(self) -> Features:
        s = self.scorer
        pr = None if s.pr_net is None else np.zeros((0, s.pr_net.dim), np.float32)
        return Features(np.zeros((0, s.net.dim), np.float32), np.zeros((0, s.net.num_classes), np.float32), pr)

    def generator_features(self, sample_fn: SkippableSampleFn, n: int, batch_size: int | None = None) -> Features:
        """The features of all n samples, gathered on every rank in single-process order."""
        bs = batch_size or self.scorer.batch_size
        mine = batch_block(n, bs, self.rank, self.world)
        local = self._empty()
        if mine:
            b = min(n, mine.stop * bs) - mine.start * bs
            local = self.scorer.extract(generated_block(sample_fn, n, bs, self.rank, self.world),
                                        total=b, desc=f"generated (rank {self.rank})")
        parts = [local.feats, local.logits] + ([] if local.pr_feats is None else [local.pr_feats])
        widths = np.cumsum([p.shape[1] for p in parts])[:-1]
        cols = np.split(all_gather_rows(np.concatenate(parts, axis=1)), widths, axis=1)
        return Features(cols[0], cols[1], cols[2] if len(cols) > 2 else None)

    def score_generator(self, sample_fn: SkippableSampleFn, n: int, batch_size: int | None = None) -> dict[str, float]:
        f = self.generator_features(sample_fn, n, batch_size)
        out: list = [None]
        if self.rank == 0:
            try:
                out = [self.scorer.score_features(f)]
            except Exception as e:           # the other ranks must not wait for scores that never come
                out = [f"{type(e).__name__}: {e}"]
                dist.broadcast_object_list(out, src=0)
                raise
        dist.broadcast_object_list(out, src=0)
        if isinstance(out[0], str):
            raise RuntimeError(f"rank 0 could not score the gathered features: {out[0]}")
        return out[0]


@torch.no_grad()
def sync_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Every buffer of `module` (BN statistics, SN vectors) set to rank `src`'s."""
    for b in module.buffers():
        dist.broadcast(b, src)
