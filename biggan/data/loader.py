"""Reading a shard folder with webdataset's pipeline: infinite training stream, finite pass.

Pre-flight (before any tar is opened): index.json lists the shards; each must exist with the
byte size it records (a missing or cut shard raises CorruptShardError naming it, or with
skip_corrupt=True is dropped with a RuntimeWarning).

Training stream, one webdataset DataPipeline per rank (and per DataLoader worker):
    ResampledShards -> own shards -> tarfile_to_samples -> [own samples] -> shuffle
    -> decode("rgb8") -> label -> batched
Streams: S = world_size x workers, stream s = rank * workers + worker, from the rank and
world_size ARGUMENTS and torch's worker info; never from RANK/WORLD_SIZE in the environment
(webdataset's split_by_node/pytorch_worker_seed read those, which is wrong in-process and
ambiguous when several training runs share one Ray instance).
  * >= S shards: stream s owns shards s, s+S, ... (whole shards, disjoint across ranks);
  * < S shards (the digits: 1-3 shards): every stream reads all shards and keeps the samples
    whose crc32(key) % S == s (disjoint, about 1/S each).
ResampledShards draws shards with replacement from an RNG seeded by (stream, seed) with
deterministic=True; `WebDataset(urls, resampled=True)` cannot be used because in
webdataset 1.0.2 it builds ResampledShards(urls) with deterministic=False (seed from pid,
time and os.urandom), so its order would differ on every run. The shuffle buffer and the
multi-label draw are seeded by (seed, stream) too: the same seed, rank, world_size and
num_workers give the same batches.

Workers: with num_workers = W the DataLoader hands out the workers' batches round robin, so
rank r's stream is batch i from the workers-0 stream of rank r*W + i % W in a world of
world_size*W ranks (its batch i // W): reading, decoding and batching all happen in the
workers, and the order is a fixed function of (seed, rank, world_size, W).

Errors: webdataset's handler protocol. Default: raise CorruptShardError naming the shard
(and sample key for an undecodable image). skip_corrupt=True: warn (RuntimeWarning, naming
them) and continue, like wds.warn_and_continue but with the file named (a webdataset
DecodingError's str() is empty).
"""
from __future__ import annotations

import json
import random
import warnings
import zlib
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader, get_worker_info
from webdataset.autodecode import DecodingError
from webdataset.tariterators import base_plus_ext, group_by_keys, tar_file_expander, url_opener

from biggan import storage

__all__ = ["CorruptShardError", "iter_split", "make_train_stream", "read_index"]

INDEX = "index.json"


class CorruptShardError(RuntimeError):
    """A shard that cannot be read to the end or disagrees with index.json; names the file."""


def read_index(shard_dir: str | Path) -> dict:
    """index.json of a shard folder: a path, or a storage URL (s3://...; biggan.storage)."""
    remote = storage.is_url(shard_dir)
    path = storage.join(str(shard_dir), INDEX) if remote else Path(shard_dir) / INDEX
    try:
        text = storage.read_bytes(path) if remote else path.read_text()
    except (FileNotFoundError, IsADirectoryError):
        text = None
    if text is None:
        raise FileNotFoundError(f"{shard_dir} is not a finished shard directory (no {INDEX}); "
                                f"run `python -m stages.shard --dataset NAME --split SPLIT` first")
    try:
        index = json.loads(text)
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(index, dict) or "shards" not in index:
        raise ValueError(f"{path}: not a shard index (no 'shards')")
    return index


def checked_shards(shard_dir: str | Path, index: dict, skip_corrupt: bool = False) -> dict[str, int]:
    """{shard path: sample count} of the shards that exist with index.json's byte size."""
    out = {}
    remote = storage.is_url(shard_dir)
    if remote:
        storage.register_webdataset()
    for s in index["shards"]:
        path = storage.join(str(shard_dir), s["name"]) if remote else str(Path(shard_dir) / s["name"])
        try:
            size = storage.size(path) if remote else Path(path).stat().st_size
            problem = None if size == s["bytes"] else f"{size} bytes, index.json records {s['bytes']}"
        except OSError as e:
            problem = f"listed in index.json but unreadable ({e.strerror or e})"
        if problem is None:
            out[path] = int(s["count"])
        elif skip_corrupt:
            warnings.warn(f"skipping corrupt shard {path}: {problem}", RuntimeWarning, stacklevel=3)
        else:
            raise CorruptShardError(f"corrupt shard {path}: {problem}")
    if not out:
        raise CorruptShardError(f"{shard_dir}: no readable shards")
    return out


# ---------------------------------------------------------------------------------------- errors

def _describe(exn: Exception) -> str:
    if isinstance(exn, CorruptShardError):
        return str(exn)
    if isinstance(exn, DecodingError):
        return f"{exn.url}:{exn.key}: cannot decode image ({exn.__cause__!r})"
    urls = [a for a in exn.args if isinstance(a, str) and a.endswith(".tar")]
    what = str(exn.args[0]) if exn.args else type(exn).__name__
    return f"corrupt shard {urls[-1] if urls else '?'}: {type(exn).__name__}: {what}"


def raise_named(exn: Exception) -> bool:
    """webdataset handler: re-raise as CorruptShardError naming the shard (and key)."""
    if isinstance(exn, CorruptShardError):
        raise exn
    raise CorruptShardError(_describe(exn)) from exn


def warn_named(exn: Exception) -> bool:
    """webdataset handler: warn naming the shard (and key), then continue."""
    warnings.warn(f"skipping {_describe(exn)}", RuntimeWarning, stacklevel=2)
    return True


# ---------------------------------------------------------------------------------------- samples

def _complete_shards(files: Iterator[dict], shards: dict[str, int],
                     handler: Callable[[Exception], bool]) -> Iterator[dict]:
    """Between tar_file_expander and group_by_keys: after each shard read (its {} end marker)
    compare the keys read with index.json's count. tarfile stops without an error at a
    damaged header in mid-archive, so this is what notices a shard cut short inside."""
    keys: set[str] = set()
    url = None
    for f in files:
        if f == {}:
            if url is not None and len(keys) != shards[url]:
                handler(CorruptShardError(f"corrupt shard {url}: {len(keys)} samples, "
                                          f"index.json records {shards[url]}"))
            keys, url = set(), None
        else:
            url = f["__url__"]
            keys.add(base_plus_ext(f["fname"])[0])
        yield f


def tar_samples(shards: dict[str, int], handler: Callable[[Exception], bool]) -> list:
    """webdataset's tarfile_to_samples stages, with the per-shard count check in between."""
    return [partial(url_opener, handler=handler), partial(tar_file_expander, handler=handler),
            partial(_complete_shards, shards=shards, handler=handler), partial(group_by_keys, handler=handler)]


# ---------------------------------------------------------------------------------------- stream

def _stream(rank: int, world_size: int) -> tuple[int, int]:
    """(s, S): this stream's id and the number of streams over all ranks and workers."""
    info = get_worker_info()
    workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
    return rank * workers + worker, world_size * workers


def _stream_seed(rank: int, world_size: int) -> int:
    return _stream(rank, world_size)[0]


def _own_shards(src: Iterator[dict], urls: list[str], rank: int, world_size: int) -> Iterator[dict]:
    """Node + worker splitter of resampled shards: stream s keeps shards s, s+S, ..."""
    s, n = _stream(rank, world_size)
    if len(urls) < n:
        yield from src                        # split by sample instead (_own_samples)
        return
    position = {u: i for i, u in enumerate(urls)}
    for d in src:
        if position[d["url"]] % n == s:
            yield d


def _own_samples(src: Iterator[dict], n_urls: int, total: int, rank: int, world_size: int) -> Iterator[dict]:
    """With fewer shards than streams: stream s keeps the samples with crc32(key) % S == s."""
    s, n = _stream(rank, world_size)
    if n_urls >= n:
        yield from src
        return
    seen = kept = 0
    for sample in src:
        seen += 1
        if zlib.crc32(sample["__key__"].encode()) % n == s:
            kept += 1
            yield sample
        elif kept == 0 and seen >= 2 * total:
            raise ValueError(f"stream {s} of {n} gets no samples: the shards' {total} samples "
                             f"hold none for it (ranks x workers = {n})")


def _shuffled(src: Iterator[dict], size: int, seed: int, rank: int, world_size: int) -> Iterator[dict]:
    """webdataset's shuffle buffer, seeded by the stream (= the rank without workers)."""
    yield from wds.shuffle(size, initial=size, seed=f"biggan-train-{seed}-{_stream(rank, world_size)[0]}")(src)


def _labelled(src: Iterator[dict], image_key: str, multi_label: bool, seed: int, rank: int,
              world_size: int, handler: Callable[[Exception], bool]) -> Iterator[tuple]:
    """-> (uint8 (H, W, 3), label, key); multi-label samples draw one of their labels."""
    rng = random.Random(f"biggan-label-{seed}-{_stream(rank, world_size)[0]}")
    for sample in src:
        if image_key not in sample or "cls" not in sample:
            if handler(CorruptShardError(f"corrupt shard {sample['__url__']}: sample {sample['__key__']} "
                                         f"lacks its {image_key} or cls")):
                continue
        if multi_label:
            classes = sample["json"]["classes"]
            label = classes[rng.randrange(len(classes))]
        else:
            label = int(sample["cls"])
        yield sample[image_key], label, sample["__key__"]


def _chw(images) -> np.ndarray:
    return np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2))


# Batches are assembled in numpy: single-threaded and predictable. torch's intra-op threads made
# the same float conversion 5-15x slower when the 2 cores were busy (e.g. with training).
def to_float_batch(images) -> torch.Tensor:
    """[(H, W, 3) uint8] -> float32 (B, 3, H, W) in [-1, 1] (0 -> -1, 255 -> 1 exactly)."""
    return _to_float(_chw(images))


def _to_float(x: np.ndarray) -> torch.Tensor:
    x = x.astype(np.float32)
    x /= np.float32(127.5)
    x -= np.float32(1.0)
    return torch.from_numpy(x)


def _collate(samples: list[tuple], return_keys: bool, to_float: bool = True) -> tuple:
    images, labels, keys = zip(*samples)
    x = to_float_batch(images) if to_float else torch.from_numpy(_chw(images))
    y = torch.tensor(labels, dtype=torch.int64)
    return (x, y, list(keys)) if return_keys else (x, y)


def _floats(batches: Iterator[tuple]) -> Iterator[tuple]:
    """Workers hand over uint8 batches (a quarter of float32's bytes through shared memory);
    the same float conversion then runs here."""
    for x, *rest in batches:
        yield (_to_float(x.numpy()), *rest)


def train_pipeline(shards: dict[str, int], image_key: str, multi_label: bool, batch_size: int, *,
                   seed: int, rank: int, world_size: int, shuffle_buffer: int,
                   handler: Callable[[Exception], bool], return_keys: bool, to_float: bool = True) -> wds.DataPipeline:
    urls = list(shards)
    return wds.DataPipeline(
        wds.ResampledShards(urls, seed=seed, worker_seed=partial(_stream_seed, rank, world_size),
                            deterministic=True),
        partial(_own_shards, urls=urls, rank=rank, world_size=world_size),
        *tar_samples(shards, handler),
        partial(_own_samples, n_urls=len(urls), total=sum(shards.values()), rank=rank, world_size=world_size),
        partial(_shuffled, size=shuffle_buffer, seed=seed, rank=rank, world_size=world_size),
        wds.decode("rgb8", handler=handler),
        partial(_labelled, image_key=image_key, multi_label=multi_label, seed=seed, rank=rank,
                world_size=world_size, handler=handler),
        wds.batched(batch_size, collation_fn=partial(_collate, return_keys=return_keys, to_float=to_float),
                    partial=False),
    )


def make_train_stream(shard_dir: str | Path, batch_size: int, *, seed: int, rank: int = 0,
                      world_size: int = 1, num_workers: int = 0, shuffle_buffer: int = 1000,
                      skip_corrupt: bool = False, return_keys: bool = False,
                      prefetch_factor: int = 4, pin_memory: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Infinite resampled stream of (x float32 (B,3,H,W) in [-1,1], y int64 (B,)) for one rank.

    num_workers > 0 reads, decodes and batches in DataLoader worker processes, prefetch_factor
    batches ahead each (the order: the module's docstring). pin_memory (where CUDA is present)
    returns page-locked batches, so that `.to(cuda, non_blocking=True)` overlaps the copy.
    A corrupt or missing shard raises CorruptShardError naming it, or with skip_corrupt=True
    is skipped with a RuntimeWarning. return_keys adds the batch's sample keys.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
    if batch_size < 1 or shuffle_buffer < 1:
        raise ValueError(f"batch_size ({batch_size}) and shuffle_buffer ({shuffle_buffer}) must be >= 1")
    index = read_index(shard_dir)
    shards = checked_shards(shard_dir, index, skip_corrupt)
    if sum(shards.values()) < world_size * max(1, num_workers):
        raise ValueError(f"{shard_dir}: {sum(shards.values())} samples cannot feed "
                         f"{world_size * max(1, num_workers)} streams (ranks x workers)")
    ds = train_pipeline(shards, index["encoding"], bool(index.get("multi_label")), batch_size, seed=seed,
                        rank=rank, world_size=world_size, shuffle_buffer=shuffle_buffer,
                        handler=warn_named if skip_corrupt else raise_named, return_keys=return_keys,
                        to_float=num_workers == 0)
    pin = pin_memory and torch.cuda.is_available()
    if num_workers == 0:
        return _pinned(iter(ds)) if pin else iter(ds)
    batches = _floats(iter(DataLoader(ds, batch_size=None, num_workers=num_workers, prefetch_factor=prefetch_factor,
                                      persistent_workers=True)))
    return _pinned(batches) if pin else batches


def _pinned(batches: Iterator[tuple]) -> Iterator[tuple]:
    for x, y, *keys in batches:
        yield (x.pin_memory(), y.pin_memory(), *keys)


def iter_split(shard_dir: str | Path, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Every sample exactly once, in shard order: (x uint8 (B,3,H,W), y int64 (B,)).

    y is the primary class (`cls`; for multi-label data the most frequent kept label). The last
    batch may be smaller. Raises CorruptShardError naming a bad shard.
    """
    index = read_index(shard_dir)
    shards = checked_shards(shard_dir, index)
    samples = wds.DataPipeline(wds.SimpleShardList(list(shards)), *tar_samples(shards, raise_named),
                               wds.decode("rgb8", handler=raise_named),
                               wds.to_tuple(index["encoding"], "cls", handler=raise_named),
                               wds.batched(batch_size, collation_fn=_collate_uint8, partial=True))
    yield from samples


def _collate_uint8(samples: list[tuple]) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = zip(*samples)
    return torch.from_numpy(_chw(images)), torch.tensor(labels, dtype=torch.int64)


def first_images(shard_dir: str | Path, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first n samples of a split in shard order (all of them if it holds fewer), as the
    training stream's batches are: (x float32 (n, 3, H, W) in [-1, 1], y int64 (n,))."""
    xs, ys, got = [], [], 0
    for x, y in iter_split(shard_dir, max(1, min(n, 256))):
        xs.append(x[: n - got])
        ys.append(y[: n - got])
        got += len(xs[-1])
        if got >= n:
            break
    if not xs:
        raise CorruptShardError(f"{shard_dir}: no samples")
    return _to_float(torch.cat(xs).numpy()), torch.cat(ys)
