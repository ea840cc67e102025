"""Decode any image to RGB, centre-crop the long edge, resize with antialiasing, encode.

This is the one preprocessing of the project (BigGAN's: centre square crop, then resize).
Pillow's BOX/BILINEAR/BICUBIC/LANCZOS resize is antialiased (the kernel widens when
downsampling). JPEG draft decoding lets libjpeg decode at 1/2, 1/4 or 1/8 scale, never below
the target size; it changes pixels, so it is a dataset parameter.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFile

ImageFile.LOAD_TRUNCATED_IMAGES = False   # truncated files must fail, not decode grey

RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def to_rgb(im: Image.Image) -> Image.Image:
    """Every Pillow mode to RGB: CMYK, L, 1, P, LA/PA/RGBA (alpha dropped), 16-bit grey (>> 8)."""
    if im.mode == "RGB":
        return im
    if im.mode.startswith("I;16"):
        im = Image.fromarray((np.asarray(im).astype(np.uint32) >> 8).astype(np.uint8), mode="L")
    elif im.mode in ("I", "F"):
        im = Image.fromarray(np.clip(np.asarray(im), 0, 255).astype(np.uint8), mode="L")
    elif im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    return im.convert("RGB")


def decode(data: bytes, draft_to: int | None = None) -> tuple[Image.Image, tuple[int, int]]:
    """Bytes -> (fully decoded RGB image, original (width, height)).

    The format comes from the content, not the file name (a PNG named .JPEG decodes as PNG).
    draft_to: let JPEGs decode at a reduced scale no smaller than draft_to x draft_to.
    Raises OSError/ValueError for truncated, unreadable or non-image data.
    """
    im = Image.open(io.BytesIO(data))
    size = im.size
    if draft_to and im.format == "JPEG":
        im.draft(im.mode, (draft_to, draft_to))
    im.load()
    return to_rgb(im), size


def centre_crop_resize(im: Image.Image, resolution: int, filter: str = "bicubic") -> Image.Image:
    """Square crop of the long edge around the centre, resized to (resolution, resolution)."""
    w, h = im.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    if s != max(w, h):
        # a real crop: resize(box=...) would let the filter read pixels outside the box
        im = im.crop((left, top, left + s, top + s))
    return im.resize((resolution, resolution), RESAMPLE[filter])


def preprocess(data: bytes, resolution: int, filter: str = "bicubic", draft: bool = False
               ) -> tuple[Image.Image, tuple[int, int]]:
    """Bytes -> (RGB image resolution x resolution, original (width, height))."""
    im, size = decode(data, resolution if draft else None)
    return centre_crop_resize(im, resolution, filter), size


def encode(im: Image.Image, encoding: str, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    if encoding == "jpg":
        im.save(buf, format="JPEG", quality=quality)
    elif encoding == "png":
        im.save(buf, format="PNG")
    else:
        raise ValueError(f"unknown encoding {encoding!r}; allowed: jpg, png")
    return buf.getvalue()
