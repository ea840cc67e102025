"""Tiny fake ILSVRC2012 trees, in the extracted and the archive layout, with awkward files.

train: 3 classes x 4 images; class 1 holds a CMYK JPEG, a PNG named .JPEG (palette mode) and a
grayscale JPEG; class 2 holds a truncated JPEG. val: 6 flat images.
quirky=True adds an empty .JPEG (class 0) and a symbolic link to an image (class 1) in both
layouts, and in the archive a member named '../escape.JPEG' (class 0's tar), which a safe
extraction refuses and so has no counterpart in the extracted tree.
"""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

WNIDS = ["n01440764", "n01443537", "n01484850"]
NAMES = {"n01440764": "tench, Tinca tinca", "n01443537": "goldfish, Carassius auratus",
         "n01484850": "great white shark"}
VAL_LABELS = ["n01484850", "n01440764", "n01443537", "n01440764", "n01484850", "n01443537"]
TRUNCATED = "n01484850_3.JPEG"
SPECIAL = {"n01443537_1.JPEG": "cmyk", "n01443537_2.JPEG": "png-palette", "n01443537_3.JPEG": "gray"}
EMPTY = "n01440764_4.JPEG"        # quirky: zero bytes
LINK = "n01443537_9.JPEG"         # quirky: symbolic link to n01443537_0.JPEG
ESCAPE = "../escape.JPEG"         # quirky, archive only: a member outside its folder


class Link(str):
    """A symbolic link member / file: its target."""


def photo(seed: int, size: tuple[int, int]) -> Image.Image:
    """A smooth random RGB picture (w, h): compresses like a photo, not like noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)


def encoded(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def train_files(quirky: bool = False) -> dict[str, dict[str, bytes | Link]]:
    """wnid -> {file name: bytes, or Link(target)}."""
    out: dict[str, dict[str, bytes]] = {}
    for c, wnid in enumerate(WNIDS):
        files = {}
        for i in range(4):
            name = f"{wnid}_{i}.JPEG"
            im = photo(100 * c + i, (40 + 8 * i, 30 + 4 * c))
            kind = SPECIAL.get(name)
            if kind == "cmyk":
                data = encoded(im.convert("CMYK"), "JPEG", quality=90)
            elif kind == "png-palette":
                data = encoded(im.convert("P"), "PNG")
            elif kind == "gray":
                data = encoded(im.convert("L"), "JPEG", quality=90)
            else:
                data = encoded(im, "JPEG", quality=90)
            if name == TRUNCATED:
                data = data[: len(data) // 2]
            files[name] = data
        out[wnid] = files
    if quirky:
        out[WNIDS[0]][EMPTY] = b""
        out[WNIDS[1]][LINK] = Link(f"{WNIDS[1]}_0.JPEG")
    return out


def val_files() -> dict[str, bytes]:
    return {f"ILSVRC2012_val_{i + 1:08d}.JPEG": encoded(photo(1000 + i, (44, 36)), "JPEG", quality=90)
            for i in range(len(VAL_LABELS))}


def tar_bytes(members: dict[str, bytes | Link]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            if isinstance(data, Link):
                ti.type, ti.linkname = tarfile.SYMTYPE, str(data)
                tf.addfile(ti)
                continue
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def write_common(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "LOC_synset_mapping.txt").write_text("".join(f"{w} {NAMES[w]}\n" for w in WNIDS))


def make_extracted(root: Path, quirky: bool = False) -> Path:
    write_common(root)
    for wnid, files in train_files(quirky).items():
        (root / "train" / wnid).mkdir(parents=True)
        for name, data in files.items():
            if isinstance(data, Link):
                (root / "train" / wnid / name).symlink_to(str(data))
            else:
                (root / "train" / wnid / name).write_bytes(data)
    (root / "val").mkdir()
    for name, data in val_files().items():
        (root / "val" / name).write_bytes(data)
    rows = [f"ILSVRC2012_val_{i + 1:08d},{w} 1 2 30 40\n" for i, w in enumerate(VAL_LABELS)]
    (root / "LOC_val_solution.csv").write_text("ImageId,PredictionString\n" + "".join(rows))
    return root


def make_archive(root: Path, quirky: bool = False) -> Path:
    """Original archives; val labels and class names from a devkit (ground truth + meta.mat,
    whose ILSVRC2012_IDs are not in sorted-wnid order)."""
    from scipy.io import savemat

    root.mkdir(parents=True, exist_ok=True)
    train = train_files(quirky)
    if quirky:
        train[WNIDS[0]][ESCAPE] = encoded(photo(7, (40, 30)), "JPEG")
    inner = {f"{wnid}.tar": tar_bytes(files) for wnid, files in train.items()}
    (root / "ILSVRC2012_img_train.tar").write_bytes(tar_bytes(inner))
    (root / "ILSVRC2012_img_val.tar").write_bytes(tar_bytes(val_files()))
    devkit = root / "ILSVRC2012_devkit_t12" / "data"
    devkit.mkdir(parents=True)
    ids = {"n01484850": 1, "n01440764": 2, "n01443537": 3}   # devkit IDs differ from sorted order
    syn = np.zeros((len(ids),), dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"),
                                       ("num_children", "O")])
    for k, (wnid, i) in enumerate(ids.items()):
        syn[k] = (i, wnid, NAMES[wnid], 0)
    savemat(str(devkit / "meta.mat"), {"synsets": syn})
    (devkit / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{ids[w]}\n" for w in VAL_LABELS))
    return root
