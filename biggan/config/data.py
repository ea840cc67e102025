"""`datasets:` section: what the shard stage writes, one entry per named dataset."""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, PositiveInt

from biggan.config.base import Strict


class DigitsSource(Strict):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes)."""

    kind: Literal["digits"]
    val_fraction: float = Field(0.2, gt=0, lt=1)
    split_seed: int = 0
    upsample_filter: Literal["nearest", "bilinear", "bicubic", "lanczos"] = "bicubic"


class ImageNetSource(Strict):
    """ILSVRC2012, extracted (train/<wnid>/*.JPEG, val/) or as the original archives."""

    kind: Literal["imagenet"]
    root: str
    layout: Literal["auto", "extracted", "archive"] = "auto"
    val_labels: str | None = None        # LOC_val_solution.csv or the devkit ground truth


class ImageFolderSource(Strict):
    kind: Literal["imagefolder"]
    root: str                             # <root>/<split>/<class>/<image> or <root>/<class>/<image>


class ManifestSource(Strict):
    """JSONL/CSV manifest of (path, labels...) for JFT-style multi-label data."""

    kind: Literal["manifest"]
    path: str
    root: str | None = None               # image paths are relative to this (default: manifest's folder)
    top_k_labels: PositiveInt | None = None   # keep the K most common labels (paper: 8.5K of 18K)


Source = Annotated[
    Union[DigitsSource, ImageNetSource, ImageFolderSource, ManifestSource],
    Field(discriminator="kind"),
]


class DatasetConfig(Strict):
    source: Source
    resolution: PositiveInt
    splits: list[Literal["train", "val"]] = ["train", "val"]
    encoding: Literal["jpg", "png"] = "png"
    quality: int = Field(95, ge=1, le=100)      # JPEG quality
    draft: bool = False                          # Pillow JPEG draft decoding (changes pixels)
    shard_max_count: PositiveInt = 10000
    shard_max_bytes: PositiveInt = 1_000_000_000
    shuffle_seed: int = 0
    workers: PositiveInt | None = None           # default: CPU cores
    max_skipped_fraction: float = Field(0.01, ge=0, le=1)
