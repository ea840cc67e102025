"""What a source lists: the images of one split, where their bytes live, and their labels."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"})


class SourceError(ValueError):
    """The raw data cannot be listed: missing root, empty class, bad manifest, unreadable archive."""


# Why an entry was left out while listing. Stable text: it is written to skipped.json.
# Links are skipped in every layout (extracted folders and archives alike), never followed.
LINK = "symbolic or hard link: links are not followed"
UNSAFE_NAME = "archive member with an absolute path or '..': not read"
NOT_REGULAR = "not a regular file (device, fifo or sparse): not read"
NOT_CLASS_TAR = "not a per-class .tar: not read"


def skip_entry(key_name: str, origin: str, reason: str) -> dict:
    """A skip-report row: the sample key the entry would have had (make_key), where it is, why."""
    return {"key": make_key(key_name), "source": origin, "reason": reason}


@dataclass(frozen=True, slots=True)
class Item:
    """One input image. Bytes come from `data`, or `path` (a byte range of it inside archives)."""

    key: str                      # unique within the split; no dots (WebDataset splits at them)
    classes: tuple[int, ...]      # class indices of the sample, primary (the `cls` field) first
    labels: tuple[str, ...]       # every label name of the sample, as the source gives them
    origin: str                   # human-readable provenance, stored in the sample's json
    path: str = ""
    offset: int = 0
    size: int = -1                # -1: the whole file
    data: bytes | None = None     # generated images (digits)

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        with open(self.path, "rb") as f:
            if self.size < 0:
                return f.read()
            f.seek(self.offset)
            out = f.read(self.size)
        if len(out) != self.size:
            raise OSError(f"archive member ends early: {len(out)} of {self.size} bytes")
        return out


@dataclass(frozen=True)
class ClassInfo:
    id: str                       # wnid, folder name or label
    name: str = ""                # human-readable description where the source has one
    count: int | None = None      # label frequency in the whole manifest (manifest sources)


@dataclass
class Listing:
    items: list[Item]
    classes: list[ClassInfo]
    notes: dict = field(default_factory=dict)   # source facts for index.json (e.g. dropped rows)
    rejected: list[dict] = field(default_factory=list)   # skip_entry rows: links, unsafe members

    def check_keys(self) -> None:
        seen: dict[str, str] = {}
        for it in self.items:
            if it.key in seen:
                raise SourceError(f"two inputs map to the sample key {it.key!r}: "
                                  f"{seen[it.key]} and {it.origin}")
            seen[it.key] = it.origin


_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_\-]")


def make_key(relative: str) -> str:
    """'n01440764/n01440764_10026.JPEG' -> 'n01440764_n01440764_10026' (extension dropped)."""
    stem = relative.rsplit(".", 1)[0] if "." in Path(relative).name else relative
    return _UNSAFE_KEY.sub("_", stem)


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


def hashed_split(name: str, val_fraction: float, seed: int) -> str:
    """Seeded, order-independent split: stable when rows are added or reordered."""
    h = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return "val" if int.from_bytes(h[:8], "big") / 2**64 < val_fraction else "train"


def check_split(split: str) -> None:
    if split not in ("train", "val"):
        raise SourceError(f"unknown split {split!r}; allowed: train, val")
