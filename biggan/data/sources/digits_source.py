"""The embedded digits as shard inputs: the seeded split of biggan.data.digits, as 8x8 PNGs.

Sharding upsamples them with source.upsample_filter, which gives exactly the pixels of
`digits_images` (the tests check this), so every consumer sees the same images.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from biggan.config.data import DigitsSource
from biggan.data.digits import NUM_CLASSES, load_digits_split
from biggan.data.items import ClassInfo, Item, Listing


def png_bytes(img8) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img8, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def balanced_first(labels: np.ndarray, n: int) -> np.ndarray:
    """Indices of the first n items taken class by class in turn (each class's earliest first),
    returned in their original order: a small training set with every class."""
    rank = np.zeros(len(labels), dtype=np.int64)
    seen: dict[int, int] = {}
    for i, y in enumerate(labels.tolist()):
        rank[i], seen[y] = seen.get(y, 0), seen.get(y, 0) + 1
    order = np.lexsort((labels, rank))          # by rank within its class, then by class
    return np.sort(order[:n])


def list_digits(src: DigitsSource, split: str) -> Listing:
    images, labels, idx = load_digits_split(split, src.val_fraction, src.split_seed)
    if split == "train" and src.train_images:
        keep = balanced_first(labels, src.train_images)
        images, labels, idx = images[keep], labels[keep], idx[keep]
    items = [Item(key=f"digits_{i:04d}", classes=(int(y),), labels=(str(int(y)),),
                  origin=f"sklearn.datasets.load_digits[{i}]", data=png_bytes(im))
             for im, y, i in zip(images, labels, idx)]
    return Listing(items, [ClassInfo(str(c)) for c in range(NUM_CLASSES)])
