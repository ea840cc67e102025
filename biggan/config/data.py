"""`datasets:` section: what the shard stage writes, one entry per named dataset.

Relative paths (roots, manifests, label files) are relative to the working directory of the
stage (the repository root under DVC), except `ImageNetSource.val_labels`, which is relative
to the ImageNet root.
"""
from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator

from biggan.config.base import Strict

Fraction = Annotated[float, Field(ge=0, lt=1)]
WNID = re.compile(r"^n\d{8}$")


class DigitsSource(Strict):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes)."""

    kind: Literal["digits"]
    val_fraction: float = Field(0.2, gt=0, lt=1)
    split_seed: int = 0
    upsample_filter: Literal["nearest", "bilinear", "bicubic", "lanczos"] = "bicubic"
    # keep only N training images, the earliest of each class in turn: a training set D can
    # memorise, for the collapse study. The train/val split itself is unchanged.
    train_images: PositiveInt | None = None


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
    # a subset (e.g. ImageNet-100): these wnids only, indexed in sorted order, val images of the
    # other classes left out. Default: every class folder (or tar) of the train split; the
    # class count is then known from the shards (index.json), and checked when training starts.
    synsets: list[str] | None = Field(None, min_length=1)

    @field_validator("synsets")
    @classmethod
    def _wnids(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        bad = [w for w in v if not WNID.match(w)]
        if bad:
            raise ValueError(f"not WordNet ids like n01440764: {bad[:5]}")
        repeated = sorted({w for w in v if v.count(w) > 1})
        if repeated:
            raise ValueError(f"repeated wnids: {repeated[:5]}")
        return v


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
    # dvc.yaml's shard matrix builds train and val of every dataset (ref_stats scores the val
    # split), so both are required; the key stays so that params files may spell it out
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
    # skipped inputs (links, unsafe archive members, unreadable or undecodable files) allowed
    max_skipped_fraction: Fraction = 0.01

    @field_validator("splits")
    @classmethod
    def _both_splits(cls, v: list[str]) -> list[str]:
        if sorted(v) != ["train", "val"]:
            raise ValueError("must be [train, val]: dvc.yaml shards both splits of every dataset "
                             "(the shard@<dataset> stage) and ref_stats scores the val split")
        return v


class LoaderConfig(Strict):
    """`train.loader`: how the training stream is read (biggan.data.loader.make_train_stream).

    workers: DataLoader worker processes per training worker that read, decode and batch
    (0: in the training process). With W workers rank r's stream is the round-robin interleave
    of the workers-0 streams of ranks r*W .. r*W+W-1 in a world W times as large: a different,
    equally deterministic sample order, so a run with other workers is another run.
    """

    workers: NonNegativeInt = 0
    prefetch: PositiveInt = 4             # batches queued per worker (workers > 0)
    pin_memory: bool = True               # page-locked batches for non-blocking copies (CUDA only)
