"""Class folders: <dir>/<class>/<image>, shared by the imagefolder and extracted ImageNet sources."""
from __future__ import annotations

from pathlib import Path

from biggan.config.data import ImageFolderSource
from biggan.data.items import ClassInfo, Item, Listing, SourceError, hashed_split, is_image_name, make_key


def class_dirs(folder: Path) -> list[Path]:
    """Sorted class sub-folders (hidden ones ignored); errors name the folder."""
    if not folder.is_dir():
        raise SourceError(f"folder not found: {folder}")
    dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise SourceError(f"no class folders in {folder}")
    return dirs


def images_in(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_name(p.name))
    if not files:
        raise SourceError(f"empty class: {folder} holds no images")
    return files


def list_imagefolder(src: ImageFolderSource, split: str) -> Listing:
    root = Path(src.root)
    if not root.is_dir():
        raise SourceError(f"image folder root not found: {root}")
    has_splits = (root / "train").is_dir()
    # classes always come from the training folder so that both splits share one index
    train_dir = root / "train" if has_splits else root
    names = [d.name for d in class_dirs(train_dir)]
    index = {n: i for i, n in enumerate(names)}
    folder = root / split if has_splits else root
    if has_splits and not folder.is_dir():
        raise SourceError(f"split folder not found: {folder}")
    if not has_splits and split == "val" and src.val_fraction == 0:
        raise SourceError(f"{root} has no train/ and val/ folders and source.val_fraction is 0: "
                          f"there is no val split")
    items = []
    for d in class_dirs(folder):
        if d.name not in index:
            raise SourceError(f"{d}: class {d.name!r} is not among the classes of {train_dir}")
        for f in images_in(d):
            rel = f.relative_to(root).as_posix()
            if not has_splits and hashed_split(rel, src.val_fraction, src.split_seed) != split:
                continue
            items.append(Item(key=make_key(f"{d.name}/{f.name}"), classes=(index[d.name],),
                              labels=(d.name,), origin=rel, path=str(f)))
    return Listing(items, [ClassInfo(n) for n in names])
