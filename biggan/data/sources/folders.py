"""Class folders: <dir>/<class>/<image>, shared by the imagefolder and extracted ImageNet sources.

Symbolic links (to class folders or images) are not followed, as the archive reader does not
follow links in tars: each is listed as skipped (`Listing.rejected`) and shows in skipped.json.
"""
from __future__ import annotations

from pathlib import Path

from biggan.config.data import ImageFolderSource
from biggan.data.items import (LINK, ClassInfo, Item, Listing, SourceError, hashed_split, is_image_name,
                                make_key, skip_entry)


def class_dirs(folder: Path) -> tuple[list[Path], list[Path]]:
    """(sorted class sub-folders, links to folders among them); hidden ones are ignored.

    Links are never followed (the archive reader does not follow them either): the caller
    reports them as skipped. Errors name the folder.
    """
    if not folder.is_dir():
        raise SourceError(f"folder not found: {folder}")
    entries = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    dirs = [p for p in entries if not p.is_symlink()]
    if not dirs:
        raise SourceError(f"no class folders in {folder}" + _links_note(len(entries)))
    return dirs, [p for p in entries if p.is_symlink()]


def images_in(folder: Path) -> tuple[list[Path], list[Path]]:
    """(sorted image files of a class folder, links with image names, not followed)."""
    named = sorted(p for p in folder.iterdir() if is_image_name(p.name) and (p.is_symlink() or p.is_file()))
    files = [p for p in named if not p.is_symlink()]
    if not files:
        raise SourceError(f"empty class: {folder} holds no images" + _links_note(len(named)))
    return files, [p for p in named if p.is_symlink()]


def _links_note(links: int) -> str:
    return f" ({links} links skipped: links are not followed)" if links else ""


def list_imagefolder(src: ImageFolderSource, split: str) -> Listing:
    root = Path(src.root)
    if not root.is_dir():
        raise SourceError(f"image folder root not found: {root}")
    has_splits = (root / "train").is_dir()
    # classes always come from the training folder so that both splits share one index
    train_dir = root / "train" if has_splits else root
    names = [d.name for d in class_dirs(train_dir)[0]]
    index = {n: i for i, n in enumerate(names)}
    folder = root / split if has_splits else root
    if has_splits and not folder.is_dir():
        raise SourceError(f"split folder not found: {folder}")
    if not has_splits and split == "val" and src.val_fraction == 0:
        raise SourceError(f"{root} has no train/ and val/ folders and source.val_fraction is 0: "
                          f"there is no val split")
    items, rejected = [], []
    dirs, dir_links = class_dirs(folder)
    for d in dirs:
        if d.name not in index:
            raise SourceError(f"{d}: class {d.name!r} is not among the classes of {train_dir}")
        files, links = images_in(d)
        links = set(links)
        for f in sorted([*files, *links]):
            rel = f.relative_to(root).as_posix()
            if not has_splits and hashed_split(rel, src.val_fraction, src.split_seed) != split:
                continue
            key = f"{d.name}/{f.name}"
            if f in links:
                rejected.append(skip_entry(key, rel, LINK))
            else:
                items.append(Item(key=make_key(key), classes=(index[d.name],), labels=(d.name,),
                                  origin=rel, path=str(f)))
    rejected += [skip_entry(d.name, d.relative_to(root).as_posix(), LINK) for d in dir_links]
    return Listing(items, [ClassInfo(n) for n in names], rejected=rejected)
