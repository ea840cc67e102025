"""A training job as the workers receive it: resolved configs plus picklable factories.

Everything in a `TrainJob` crosses a process boundary (Ray pickles it into every worker),
so paths are absolute and heavy objects (data pipelines, feature networks) are built by
factories inside the worker that uses them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

import torch

from biggan.config.evaluation import EvalConfig
from biggan.config.model import ModelConfig
from biggan.config.train import TrainConfig

Batch = tuple[torch.Tensor, torch.Tensor]    # x float (B, 3, H, W) in [-1, 1], y int64 (B,)


class DataFactory(Protocol):
    def __call__(self, rank: int, world_size: int, seed: int) -> Iterator[Batch]:
        """An endless stream of this rank's micro-batches."""
        ...


class Scorer(Protocol):
    def score_generator(self, sample_fn: Callable[[int], torch.Tensor], n: int,
                        batch_size: int | None = None) -> dict[str, float]: ...


@dataclass(frozen=True)
class ShardStream:
    """The training shards of one dataset through `biggan.data.loader.make_train_stream`."""

    shard_dir: str
    micro_batch: int

    def __call__(self, rank: int, world_size: int, seed: int) -> Iterator[Batch]:
        from biggan.data.loader import make_train_stream

        return make_train_stream(self.shard_dir, self.micro_batch, seed=seed, rank=rank, world_size=world_size)


@dataclass(frozen=True)
class EvalScorer:
    """`biggan.metrics.Scorer` from the feature_net and ref_stats stages' outputs (absolute paths)."""

    eval: EvalConfig
    dataset: str

    @classmethod
    def under(cls, root: Path, cfg: EvalConfig, dataset: str) -> "EvalScorer":
        """Resolve the configured (repo-relative) paths against `root`."""
        def ab(p: str | None) -> str | None:
            return None if p is None else str((root / p).resolve())
        cfg = cfg.model_copy(update={
            "refstats_dir": ab(cfg.refstats_dir), "inception_weights": ab(cfg.inception_weights),
            "digits_net": cfg.digits_net.model_copy(update={"out_dir": ab(cfg.digits_net.out_dir)})})
        return cls(cfg, dataset)

    def inputs(self) -> list[Path]:
        from biggan.metrics.feature_net import digits_weights_path
        from biggan.metrics.refstats import reference_stats_path

        net = digits_weights_path(self.eval) if self.eval.feature_net == "digits" else Path(self.eval.inception_weights)
        return [net, reference_stats_path(self.eval, self.dataset)]

    def __call__(self) -> Scorer:
        from biggan.metrics import Scorer as MetricsScorer
        from biggan.metrics.refstats import reference_stats_path

        return MetricsScorer.from_config(self.eval, reference_stats_path(self.eval, self.dataset))


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
    scorer: Callable[[], Scorer] | None = None     # None: no IS/FID during training
    eval_batch_size: int = 50
    tracking: Tracking | None = None
    threads: int | None = None                     # torch intra-op threads per worker


def derived_seed(*parts: int | str) -> int:
    """A 63-bit seed from (seed, rank, purpose, ...): independent streams per rank and use."""
    h = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "little") & (2 ** 63 - 1)
