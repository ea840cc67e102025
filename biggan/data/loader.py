"""Streaming loader over a shard folder: infinite training stream and finite evaluation pass.

Splitting across Ray Train ranks and DataLoader workers: there are S = world_size x workers
streams, stream s = rank * workers + worker. With at least S shards each stream owns the
shards s, s+S, ...; with fewer (the digits: 1-3 shards) every stream reads all shards and keeps
the samples at positions p with p % S == s. Either way streams see disjoint samples, so ranks
never produce identical batches, and 1 shard with 2 ranks works. Each stream then resamples
its shards with replacement (a shard is drawn at random each time), shuffles samples in a
buffer and, for multi-label samples, draws one of their labels per draw, all from one RNG
seeded by (seed, s): the same seed, rank and worker count give the same batches.

The shard list comes from index.json, never from the environment: webdataset's default
nodesplitter raises under Ray Train (RANK/WORLD_SIZE are set), so WebDataset() is not used;
shards are read by biggan.data.reading.
"""
from __future__ import annotations

import random
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from biggan.data.reading import (CorruptShardError, Shard, decode_rgb, read_index, sample_classes,
                                 shard_samples, shards_of, to_float_batch, to_uint8_batch)

__all__ = ["CorruptShardError", "iter_split", "make_train_stream", "read_index"]


class TrainStream(IterableDataset):
    """Infinite batches (x float32 (B,3,H,W) in [-1,1], y int64 (B,)[, keys]) of one rank."""

    def __init__(self, shards: list[Shard], image_key: str, multi_label: bool, batch_size: int,
                 seed: int, rank: int, world_size: int, shuffle_buffer: int, skip_corrupt: bool,
                 return_keys: bool):
        self.shards, self.image_key, self.multi_label = shards, image_key, multi_label
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.shuffle_buffer, self.skip_corrupt, self.return_keys = shuffle_buffer, skip_corrupt, return_keys

    def _stream_id(self) -> tuple[int, int]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        return self.rank * workers + worker, self.world_size * workers

    def _samples(self, rng: random.Random, stream: int, streams: int) -> Iterator[dict]:
        """Resampled samples of this stream's part of the data, forever."""
        if len(self.shards) >= streams:
            own, stride, offset = self.shards[stream::streams], 1, 0
        else:
            own, stride, offset = list(self.shards), streams, stream
        while True:
            if not own:
                raise CorruptShardError(f"stream {stream} of {streams}: every shard is corrupt")
            if not any(s.count > offset for s in own):
                raise ValueError(f"stream {stream} of {streams} gets no samples: the shards hold fewer "
                                 f"samples than ranks x workers ({streams})")
            shard = own[rng.randrange(len(own))]
            try:
                for pos, sample in enumerate(shard_samples(shard, self.image_key)):
                    if pos % stride == offset:
                        yield sample
            except CorruptShardError as e:
                if not self.skip_corrupt:
                    raise
                warnings.warn(f"skipping {e}", RuntimeWarning, stacklevel=2)
                own.remove(shard)

    def _shuffled(self, samples: Iterator[dict], rng: random.Random) -> Iterator[dict]:
        buf: list[dict] = []
        for s in samples:
            if len(buf) < self.shuffle_buffer:
                buf.append(s)
                continue
            j = rng.randrange(len(buf))
            buf[j], s = s, buf[j]
            yield s

    def _label(self, sample: dict, rng: random.Random) -> int:
        if self.multi_label:
            classes = sample_classes(sample)
            return classes[rng.randrange(len(classes))]
        return int(sample["cls"])

    def _decoded(self, samples: Iterator[dict], rng: random.Random) -> Iterator[tuple]:
        """-> (uint8 (H, W, 3), label, key); undecodable images raise or, skip_corrupt, warn."""
        for s in samples:
            try:
                image = decode_rgb(s[self.image_key], f"{s['__url__']}:{s['__key__']}")
            except CorruptShardError as e:
                if not self.skip_corrupt:
                    raise
                warnings.warn(f"skipping {e}", RuntimeWarning, stacklevel=2)
                continue
            yield image, self._label(s, rng), s["__key__"]

    def __iter__(self) -> Iterator[tuple]:
        stream, streams = self._stream_id()
        rng = random.Random(f"biggan-train-{self.seed}-{stream}")
        decoded = self._decoded(self._shuffled(self._samples(rng, stream, streams), rng), rng)
        while True:
            images, labels, keys = zip(*(next(decoded) for _ in range(self.batch_size)))
            x, y = to_float_batch(list(images)), torch.tensor(labels, dtype=torch.int64)
            yield (x, y, list(keys)) if self.return_keys else (x, y)


def _shards_checked(shard_dir: str | Path, index: dict, skip_corrupt: bool) -> list[Shard]:
    shards = []
    for s in shards_of(shard_dir, index):
        if Path(s.path).is_file():
            shards.append(s)
        elif skip_corrupt:
            warnings.warn(f"skipping missing shard {s.path}", RuntimeWarning, stacklevel=3)
        else:
            raise CorruptShardError(f"shard {s.path} listed in index.json is missing")
    if not shards:
        raise CorruptShardError(f"{shard_dir}: no readable shards")
    return shards


def make_train_stream(shard_dir: str | Path, batch_size: int, *, seed: int, rank: int = 0,
                      world_size: int = 1, num_workers: int = 0, shuffle_buffer: int = 1000,
                      skip_corrupt: bool = False, return_keys: bool = False,
                      prefetch_factor: int = 4) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Infinite resampled stream of (x float32 (B,3,H,W) in [-1,1], y int64 (B,)) for one rank.

    num_workers > 0 decodes in DataLoader worker processes (batches come back in a fixed
    round-robin order, so the stream stays deterministic for a given num_workers).
    A corrupt or missing shard raises CorruptShardError naming it, or with skip_corrupt=True
    is dropped with a RuntimeWarning. return_keys adds the batch's sample keys.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
    if batch_size < 1 or shuffle_buffer < 1:
        raise ValueError(f"batch_size ({batch_size}) and shuffle_buffer ({shuffle_buffer}) must be >= 1")
    index = read_index(shard_dir)
    ds = TrainStream(_shards_checked(shard_dir, index, skip_corrupt), index["encoding"],
                     bool(index.get("multi_label")), batch_size, seed, rank, world_size,
                     shuffle_buffer, skip_corrupt, return_keys)
    if num_workers == 0:
        return iter(ds)
    loader = DataLoader(ds, batch_size=None, num_workers=num_workers, prefetch_factor=prefetch_factor,
                        persistent_workers=True)
    return iter(loader)


def iter_split(shard_dir: str | Path, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Every sample exactly once, in shard order: (x uint8 (B,3,H,W), y int64 (B,)).

    y is the primary class (`cls`; for multi-label data the most frequent kept label). The last
    batch may be smaller. Raises CorruptShardError naming a bad shard.
    """
    index = read_index(shard_dir)
    image_key = index["encoding"]
    images: list = []
    labels: list[int] = []
    for shard in shards_of(shard_dir, index):
        for s in shard_samples(shard, image_key):
            images.append(decode_rgb(s[image_key], f"{shard.path}:{s['__key__']}"))
            labels.append(int(s["cls"]))
            if len(images) == batch_size:
                yield to_uint8_batch(images), torch.tensor(labels, dtype=torch.int64)
                images, labels = [], []
    if images:
        yield to_uint8_batch(images), torch.tensor(labels, dtype=torch.int64)
