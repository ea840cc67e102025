"""A training job as the workers receive it: resolved configs plus picklable factories
(biggan.train.factories: the data stream and the scorer, built inside each worker).

Everything in a `TrainJob` crosses a process boundary (Ray pickles it into every worker),
so paths are absolute and heavy objects (data pipelines, feature networks) are built by
factories inside the worker that uses them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

import torch

from biggan.config.model import ModelConfig
from biggan.config.train import TrainConfig

Batch = tuple[torch.Tensor, torch.Tensor]    # x float (B, 3, H, W) in [-1, 1], y int64 (B,)


class DataFactory(Protocol):
    """Optionally also `images(split, n) -> Batch | None`: the first n real images of the "train"
    or "val" split, None without that split (D's accuracy; biggan.train.factories.ShardStream)."""

    def __call__(self, rank: int, world_size: int, seed: int) -> Iterator[Batch]:
        """An endless stream of this rank's micro-batches."""
        ...


class Scorer(Protocol):
    def score_generator(self, sample_fn: Callable[[int], torch.Tensor], n: int,
                        batch_size: int | None = None) -> dict[str, float]: ...


ScorerFactory = Callable[[torch.device], Scorer]     # built in the worker, on its device


@dataclass(frozen=True)
class Tracking:
    """Where rank 0 logs: an MLflow run created by the driver."""

    uri: str
    run_id: str


@dataclass(frozen=True)
class TrainJob:
    variant: str
    seed: int
    model: ModelConfig
    train: TrainConfig
    data: DataFactory
    scorer: ScorerFactory | None = None            # None: no IS/FID during training
    eval_batch_size: int = 50                      # eval.batch_size: samples per G pass and feature batch
    tracking: Tracking | None = None
    threads: int | None = None                     # torch intra-op threads per worker


def derived_seed(*parts: int | str) -> int:
    """A 63-bit seed from (seed, rank, purpose, ...): independent streams per rank and use."""
    h = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "little") & (2 ** 63 - 1)
