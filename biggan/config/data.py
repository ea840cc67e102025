"""`datasets:` section: what the shard stage writes, one entry per named dataset.

Relative paths (roots, manifests, label files) are relative to the working directory of the
stage (the repository root under DVC), except `ImageNetSource.val_labels`, which is relative
to the ImageNet root.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, PositiveInt

from biggan.config.base import Strict

Fraction = Annotated[float, Field(ge=0, lt=1)]


class DigitsSource(Strict):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes)."""

    kind: Literal["digits"]
    val_fraction: float = Field(0.2, gt=0, lt=1)
    split_seed: int = 0
    upsample_filter: Literal["nearest", "bilinear", "bicubic", "lanczos"] = "bicubic"


class ImageNetSource(Strict):
    """ILSVRC2012, extracted (train/<wnid>/*.JPEG, val/) or as the original archives.

    archive layout: <root>/ILSVRC2012_img_train.tar (1,000 per-class tars) and
    <root>/ILSVRC2012_img_val.tar, read in place without unpacking.
    """

    kind: Literal["imagenet"]
    root: str
    layout: Literal["auto", "extracted", "archive"] = "auto"
    # LOC_val_solution.csv, the devkit's ILSVRC2012_validation_ground_truth.txt (meta.mat beside
    # it) or the devkit folder; default: searched for under root
    val_labels: str | None = None


class ImageFolderSource(Strict):
    """<root>/<split>/<class>/<image>, or <root>/<class>/<image> split by a seeded hash."""

    kind: Literal["imagefolder"]
    root: str
    val_fraction: Fraction = 0.0          # only for the layout without split folders
    split_seed: int = 0


class ManifestSource(Strict):
    """JSONL/CSV manifest of (path, labels, optional split) for JFT-style multi-label data.

    Rows with a `split` field go to that split; the others by a seeded hash of their path
    (val when the hash falls below val_fraction).
    """

    kind: Literal["manifest"]
    path: str
    root: str | None = None               # image paths are relative to this (default: manifest's folder)
    top_k_labels: PositiveInt | None = None   # keep the K most common labels (paper: 8.5K of 18K)
    val_fraction: Fraction = 0.0
    split_seed: int = 0


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
    # antialiased resize after the centre crop (digits use source.upsample_filter)
    resize_filter: Literal["box", "bilinear", "bicubic", "lanczos"] = "bicubic"
    shard_max_count: PositiveInt = 10000
    shard_max_bytes: PositiveInt = 1_000_000_000  # size of the tar file, headers included
    shuffle_seed: int = 0
    workers: PositiveInt | None = None           # default: CPU cores
    max_skipped_fraction: float = Field(0.01, ge=0, le=1)
