"""scikit-learn's bundled handwritten digits: 1,797 real 8x8 grey images, 10 classes, no download.

The seeded train/val split here is the one every consumer uses (the shard stage, the
digits feature network, reference statistics), so they all agree on which image is held out.
Pixel values 0..16 are scaled to 0..255; images are upsampled to the working resolution
with a Pillow filter (default bicubic) and replicated to RGB.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
NUM_CLASSES = 10


def load_digits_split(split: str, val_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (images uint8 (N, 8, 8) in 0..255, labels int64 (N,), indices into the 1,797 originals)."""
    from sklearn.datasets import load_digits

    if split not in ("train", "val"):
        raise ValueError(f"unknown split {split!r}; allowed: train, val")
    d = load_digits()
    images = np.clip(np.rint(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    labels = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_val = int(round(val_fraction * len(labels)))
    idx = np.sort(order[:n_val] if split == "val" else order[n_val:])
    return images[idx], labels[idx], idx


def upsample(img8: np.ndarray, resolution: int, filter: str = "bicubic") -> np.ndarray:
    """(8, 8) uint8 grey -> (resolution, resolution, 3) uint8 RGB."""
    if filter not in FILTERS:
        raise ValueError(f"unknown upsample filter {filter!r}; allowed: {sorted(FILTERS)}")
    im = Image.fromarray(img8, mode="L").resize((resolution, resolution), FILTERS[filter])
    return np.asarray(im.convert("RGB"))


def digits_images(split: str, resolution: int, filter: str = "bicubic", val_fraction: float = 0.2,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """-> (uint8 (N, resolution, resolution, 3), labels (N,)) of one split."""
    imgs, labels, _ = load_digits_split(split, val_fraction, seed)
    return np.stack([upsample(im, resolution, filter) for im in imgs]), labels
