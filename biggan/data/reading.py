"""Reading a finished shard folder: the index, samples of one shard, decoding to arrays.

Shards are read by a small USTAR parser rather than tarfile (which webdataset uses): on this
2-core VM tarfile's header parsing cost ~300 us per sample, several times the PNG decode of a
32x32 image. It reads what biggan.data.shard writes (regular files, short names) and checks
every header checksum; anything else is reported as a corrupt shard.
"""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

INDEX = "index.json"
BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)


class CorruptShardError(RuntimeError):
    """A shard that cannot be read to the end or disagrees with index.json; names the file."""


def read_index(shard_dir: str | Path) -> dict:
    path = Path(shard_dir) / INDEX
    if not path.is_file():
        raise FileNotFoundError(f"{shard_dir} is not a finished shard directory (no {INDEX}); "
                                f"run `python -m stages.shard --dataset NAME --split SPLIT` first")
    try:
        index = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(index, dict) or "shards" not in index:
        raise ValueError(f"{path}: not a shard index (no 'shards')")
    return index


@dataclass(frozen=True)
class Shard:
    path: str
    count: int
    bytes: int


def shards_of(shard_dir: str | Path, index: dict) -> list[Shard]:
    return [Shard(str(Path(shard_dir) / s["name"]), s["count"], s["bytes"]) for s in index["shards"]]


def _members(f, path: str) -> Iterator[tuple[str, bytes]]:
    """(name, data) of each regular file of a USTAR stream."""
    while True:
        hdr = f.read(BLOCK)
        if len(hdr) < BLOCK:
            raise ValueError("unexpected end of data (no end-of-archive marker)")
        if hdr == ZERO_BLOCK:
            return
        try:
            stored = int(hdr[148:156].strip(b"\0 ") or b"0", 8)
            size = int(hdr[124:136].strip(b"\0 ") or b"0", 8)
        except ValueError:
            raise ValueError("bad tar header") from None
        if stored != sum(hdr[:148]) + 256 + sum(hdr[156:]):
            raise ValueError("bad tar header checksum")
        if hdr[156:157] not in (b"0", b"\0"):
            raise ValueError(f"unsupported tar member type {hdr[156:157]!r}")
        prefix = hdr[345:500].split(b"\0", 1)[0]
        name = hdr[:100].split(b"\0", 1)[0]
        name = (prefix + b"/" + name if prefix else name).decode()
        data = f.read(size)
        if len(data) < size:
            raise ValueError(f"unexpected end of data in {name!r}")
        f.seek(-size % BLOCK, 1)
        yield name, data


def shard_samples(shard: Shard, image_key: str) -> Iterator[dict]:
    """Samples {__key__, __url__, <image_key>, cls, json} of one shard, in tar order.

    Raises CorruptShardError naming the shard: missing, wrong size, unreadable tar, a sample
    without its image or class, or fewer samples than index.json records.
    """
    path = shard.path
    try:
        size = Path(path).stat().st_size
    except OSError as e:
        raise CorruptShardError(f"shard {path}: {e.strerror or e}") from None
    if size != shard.bytes:
        raise CorruptShardError(f"shard {path}: {size} bytes, index.json records {shard.bytes}")
    n = 0
    current: dict | None = None
    with open(path, "rb") as f:
        try:
            for name, data in _members(f, path):
                base = name.rsplit("/", 1)[-1]
                key, _, ext = base.partition(".")
                key = name[: len(name) - len(base)] + key
                if current is None or current["__key__"] != key:
                    if current is not None:
                        n += _check(current, image_key)
                        yield current
                    current = {"__key__": key, "__url__": path}
                current[ext.lower()] = data
            if current is not None:
                n += _check(current, image_key)
                yield current
        except ValueError as e:
            raise CorruptShardError(f"corrupt shard {path}: {e}") from None
    if n != shard.count:
        raise CorruptShardError(f"corrupt shard {path}: {n} samples, index.json records {shard.count}")


def _check(sample: dict, image_key: str) -> int:
    if image_key not in sample or "cls" not in sample:
        raise ValueError(f"sample {sample['__key__']!r} lacks its {image_key} or cls")
    return 1


def decode_rgb(data: bytes, where: str) -> np.ndarray:
    """Encoded image -> uint8 (H, W, 3)."""
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
        return np.asarray(im.convert("RGB"))
    except Exception as e:
        raise CorruptShardError(f"{where}: cannot decode image ({type(e).__name__}: {e})") from e


def sample_classes(sample: dict) -> list[int]:
    """All class indices of a sample (multi-label), from its json."""
    return json.loads(sample["json"])["classes"]


def _chw(images: list[np.ndarray]) -> np.ndarray:
    return np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2))


# Batches are assembled in numpy: single-threaded and predictable. torch's intra-op threads made
# the same float conversion 5-15x slower when the 2 cores were busy (e.g. with training).
def to_uint8_batch(images: list[np.ndarray]) -> torch.Tensor:
    """[(H, W, 3) uint8] -> uint8 (B, 3, H, W), contiguous."""
    return torch.from_numpy(_chw(images))


def to_float_batch(images: list[np.ndarray]) -> torch.Tensor:
    """[(H, W, 3) uint8] -> float32 (B, 3, H, W) in [-1, 1] (0 -> -1, 255 -> 1 exactly)."""
    x = _chw(images).astype(np.float32)
    x /= np.float32(127.5)
    x -= np.float32(1.0)
    return torch.from_numpy(x)
