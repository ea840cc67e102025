"""The picklable factories a worker builds its heavy objects from, inside its own process.

`ShardStream` is the training data (a dataset's shards through biggan.data.loader), `EvalScorer`
the IS/FID scorer (the feature_net and ref_stats stages' outputs) and `build_scorer` puts that
scorer on the worker's device, shared over the ranks. Their paths are absolute, or URLs of the
storage root (`on_store`) when the workers may run on other nodes: Ray pickles them into every
worker.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import torch

from biggan.config.data import LoaderConfig
from biggan.config.evaluation import EvalConfig
from biggan.train.job import Batch, Scorer, ScorerFactory

if TYPE_CHECKING:
    from biggan.train.errors import InputError


def build_scorer(factory: ScorerFactory, device: torch.device, world_size: int) -> Scorer:
    """The worker's scorer on its device; with several ranks a ShardedScorer that splits the
    samples over them (every rank then evaluates together, see biggan.metrics.distributed)."""
    scorer = factory(device)
    if world_size > 1:
        from biggan.metrics.distributed import ShardedScorer
        scorer = ShardedScorer(scorer)
    return scorer


@dataclass(frozen=True)
class ShardStream:
    """The training shards of one dataset through `biggan.data.loader.make_train_stream`.

    A corrupt or missing shard, or shards holding another number of classes than the model
    (`n_classes`, where given), raise an InputError: no retry can fix them. `images` gives fixed
    real images of the training split or of the held-out one (`val_dir`: by default the `val`
    folder beside a local `<dataset>/train` shard folder, where the shard stage wrote one)."""

    shard_dir: str
    micro_batch: int
    dataset: str = ""
    n_classes: int | None = None
    loader: LoaderConfig = LoaderConfig()
    val_dir: str | None = None

    def __post_init__(self) -> None:
        from biggan import storage

        if self.val_dir is None and not storage.is_url(self.shard_dir) and Path(self.shard_dir).name == "train":
            val = Path(self.shard_dir).parent / "val"
            if (val / "index.json").is_file():
                object.__setattr__(self, "val_dir", str(val))

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
            stream = make_train_stream(self.shard_dir, self.micro_batch, seed=seed, rank=rank, world_size=world_size,
                                       num_workers=self.loader.workers, prefetch_factor=self.loader.prefetch,
                                       pin_memory=self.loader.pin_memory)
        except (CorruptShardError, FileNotFoundError) as e:
            if transient(e):
                raise
            raise bad_shards(e, self.shard_dir, self.dataset) from None
        return self._named(stream)

    def on_store(self, root: str) -> "ShardStream":
        """The same shards read by URL from their copy under the storage root (biggan.storage)."""
        from dataclasses import replace

        from biggan import storage

        return replace(self, shard_dir=storage.put_input(self.shard_dir, root),
                       val_dir=storage.put_input(self.val_dir, root) if self.val_dir else None)

    def images(self, split: str, n: int) -> Batch | None:
        """The first n images of the "train" or "val" split in shard order (biggan.data.loader.
        first_images), read where the stream reads its shards; None for a dataset without that split."""
        from biggan.data.loader import CorruptShardError, first_images
        from biggan.train.errors import bad_shards, transient

        where = {"train": self.shard_dir, "val": self.val_dir}[split]
        if where is None:
            return None
        try:
            return first_images(where, n)
        except (CorruptShardError, FileNotFoundError) as e:
            if transient(e):
                raise
            raise bad_shards(e, where, self.dataset) from None

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

    def on_store(self, root: str) -> "EvalScorer":
        """This scorer reading its inputs from their copies under the storage root, by URL."""
        from biggan.metrics import staged

        return EvalScorer(staged.on_store(self.eval, self.dataset, root), self.dataset)

    def local(self) -> "EvalScorer":
        """On a worker: the store's copies fetched to this node's disk, once per content."""
        from biggan.metrics import staged

        return EvalScorer(staged.local(self.eval, self.dataset), self.dataset)

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

    def __call__(self, device: str | torch.device = "cpu") -> Scorer:
        from biggan.metrics import Scorer as MetricsScorer
        from biggan.metrics.refstats import reference_stats_path
        from biggan.train.errors import InputError

        here = self.local()
        bad = here.missing()           # a worker on a node without them, or removed since the stage checked
        if bad is not None:
            raise bad
        ref = reference_stats_path(here.eval, self.dataset)
        try:
            return MetricsScorer.from_config(here.eval, ref, device)
        except ValueError as e:        # statistics of another feature network
            raise InputError(f"{ref}: {e}", f"`dvc repro -f ref_stats@{self.dataset}`", str(ref)) from None
