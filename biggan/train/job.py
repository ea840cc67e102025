"""A training job as the workers receive it: resolved configs plus picklable factories.

Everything in a `TrainJob` crosses a process boundary (Ray pickles it into every worker),
so paths are absolute and heavy objects (data pipelines, feature networks) are built by
factories inside the worker that uses them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Protocol

import torch

from biggan.config.evaluation import EvalConfig
from biggan.config.model import ModelConfig
from biggan.config.train import TrainConfig

if TYPE_CHECKING:
    from biggan.train.errors import InputError

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
    """The training shards of one dataset through `biggan.data.loader.make_train_stream`.

    A corrupt or missing shard, or shards holding another number of classes than the model
    (`n_classes`, where given), raise an InputError: no retry can fix them."""

    shard_dir: str
    micro_batch: int
    dataset: str = ""
    n_classes: int | None = None

    def __call__(self, rank: int, world_size: int, seed: int) -> Iterator[Batch]:
        from biggan.data.loader import CorruptShardError, make_train_stream, read_index
        from biggan.train.errors import InputError, bad_shards, classes_key, shard_fix, transient

        try:
            held = read_index(self.shard_dir).get("num_classes") if self.n_classes is not None else None
            if isinstance(held, int) and held != self.n_classes:
                raise InputError(f"the training shards in {self.shard_dir} hold {held} classes (index.json) but "
                                 f"the run's model.n_classes is {self.n_classes}",
                                 f"set model.n_classes: {held} for this variant in the params file, or, if the "
                                 f"shards are stale, {shard_fix(self.dataset)}",
                                 classes_key(self.shard_dir, self.n_classes))
            stream = make_train_stream(self.shard_dir, self.micro_batch, seed=seed, rank=rank, world_size=world_size)
        except (CorruptShardError, FileNotFoundError) as e:
            if transient(e):
                raise
            raise bad_shards(e, self.shard_dir, self.dataset) from None
        return self._named(stream)

    def _named(self, stream: Iterator[Batch]) -> Iterator[Batch]:
        """A shard found corrupt while reading it (cut short inside, undecodable) as an InputError."""
        from biggan.data.loader import CorruptShardError
        from biggan.train.errors import bad_shards, transient

        try:
            yield from stream
        except CorruptShardError as e:
            if transient(e):
                raise
            raise bad_shards(e, self.shard_dir, self.dataset) from None


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

    def missing(self) -> "InputError | None":
        """An InputError naming the inputs that are not there and the stages that write them."""
        from biggan.train.errors import missing_eval_inputs

        net, *_ = paths = self.inputs()
        absent = [p for p in paths if not p.is_file()]
        return missing_eval_inputs(absent, net, self.dataset) if absent else None

    def __call__(self) -> Scorer:
        from biggan.metrics import Scorer as MetricsScorer
        from biggan.metrics.refstats import reference_stats_path
        from biggan.train.errors import InputError

        bad = self.missing()           # a worker on a node without them, or removed since the stage checked
        if bad is not None:
            raise bad
        ref = reference_stats_path(self.eval, self.dataset)
        try:
            return MetricsScorer.from_config(self.eval, ref)
        except ValueError as e:        # statistics of another feature network
            raise InputError(f"{ref}: {e}", f"`dvc repro -f ref_stats@{self.dataset}`", str(ref)) from None


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
