"""ILSVRC2012 in the extracted layout or as the original archives.

extracted: <root>/train/<wnid>/*.JPEG; <root>/val/*.JPEG (labels from a file) or val/<wnid>/*.
archive:   <root>/ILSVRC2012_img_train.tar (1,000 tars <wnid>.tar) and ILSVRC2012_img_val.tar.
Class index = position of the wnid in sorted order (n01440764 -> 0), taken from the train
split in both layouts so that train and val agree; `source.synsets` keeps only those classes
(a subset such as ImageNet-100). The class count is what the tree (or the list) holds. Links
(in folders or tars) and archive members with unsafe names are not read; they are listed as
skipped (`Listing.rejected`).
"""
from __future__ import annotations

import csv
from pathlib import Path

from biggan.config.data import ImageNetSource
from biggan.data.items import (LINK, NOT_CLASS_TAR, ClassInfo, Item, Listing, SourceError, is_image_name,
                                make_key, skip_entry)
from biggan.data.sources.archive import Rejected, iter_nested, iter_tar
from biggan.data.sources.folders import class_dirs, images_in

TRAIN_TAR = "ILSVRC2012_img_train.tar"
VAL_TAR = "ILSVRC2012_img_val.tar"
GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
SUBSET_HINT = " (for a subset of the classes, list them in source.synsets)"
LABEL_CANDIDATES = ("LOC_val_solution.csv", f"ILSVRC2012_devkit_t12/data/{GROUND_TRUTH}", GROUND_TRUTH)


def detect_layout(root: Path, layout: str) -> str:
    if not root.is_dir():
        raise SourceError(f"ImageNet root not found: {root}")
    if layout == "auto":
        if (root / "train").is_dir():
            return "extracted"
        if (root / TRAIN_TAR).is_file():
            return "archive"
        raise SourceError(f"ImageNet root {root} has neither train/ (extracted layout) "
                          f"nor {TRAIN_TAR} (archive layout)")
    return layout


def _stem(name: str) -> str:
    return Path(name).name.rsplit(".", 1)[0]


def list_imagenet(src: ImageNetSource, split: str) -> Listing:
    root = Path(src.root)
    layout = detect_layout(root, src.layout)
    rejected: list[dict] = []   # links and unsafe archive members of this split, not read
    where = root / ("train" if layout == "extracted" else TRAIN_TAR)
    if layout == "extracted":
        dirs, links = class_dirs(root / "train")
        wnids = [d.name for d in dirs]
        if split == "train":
            rejected += [skip_entry(d.name, f"train/{d.name}", LINK) for d in links
                         if src.synsets is None or d.name in src.synsets]
    else:
        wnids = _archive_classes(root, rejected if split == "train" else [])
    if not wnids:
        raise SourceError(f"no classes found in {where}")
    notes = {"layout": layout}
    if src.synsets is not None:
        missing = sorted(set(src.synsets) - set(wnids))
        if missing:
            raise SourceError(f"source.synsets: {len(missing)} of the {len(src.synsets)} wnids are not "
                              f"classes of {where}: {missing[:5]}")
        notes["classes_in_source"] = len(wnids)
        wnids = sorted(src.synsets)
    index = {w: i for i, w in enumerate(wnids)}
    names = class_names(root)
    classes = [ClassInfo(w, names.get(w, "")) for w in wnids]
    if split == "train":
        train = _train_extracted if layout == "extracted" else _train_archive
        items = train(root, index, rejected)
    else:
        items = _val(root, layout, index, src.val_labels, rejected, subset=src.synsets is not None)
    return Listing(items, classes, notes, rejected)


def _item(key: str, wnid: str, index: dict[str, int], origin: str, **where) -> Item:
    return Item(key=make_key(key), classes=(index[wnid],), labels=(wnid,), origin=origin, **where)


def _archive_classes(root: Path, rejected: list[dict]) -> list[str]:
    """Sorted wnids of the per-class tars in the train archive; other members go to `rejected`."""
    wnids = []
    for m in iter_tar(root / TRAIN_TAR):
        if isinstance(m, Rejected):
            rejected.append(skip_entry(m.name, f"{TRAIN_TAR}/{m.name}", m.reason))
        elif not m.name.endswith(".tar"):
            rejected.append(skip_entry(m.name, f"{TRAIN_TAR}/{m.name}", NOT_CLASS_TAR))
        else:
            wnids.append(_stem(m.name))
    return sorted(wnids)


def _train_extracted(root: Path, index: dict[str, int], rejected: list[dict]) -> list[Item]:
    items = []
    for wnid in index:
        files, links = images_in(root / "train" / wnid)
        items += [_item(f.name, wnid, index, f"train/{wnid}/{f.name}", path=str(f)) for f in files]
        rejected += [skip_entry(f.name, f"train/{wnid}/{f.name}", LINK) for f in links]
    return items


def _train_archive(root: Path, index: dict[str, int], rejected: list[dict]) -> list[Item]:
    items = []
    outer = root / TRAIN_TAR
    for inner_name, members in iter_nested(outer):
        wnid = _stem(inner_name)
        if wnid not in index:             # a class outside source.synsets: not read
            continue
        before = len(items)
        for m in members:
            origin = f"{TRAIN_TAR}/{inner_name}/{m.name}"
            if isinstance(m, Rejected):
                rejected.append(skip_entry(m.name, origin, m.reason))
            elif is_image_name(m.name):
                items.append(_item(m.name, wnid, index, origin, path=str(outer), offset=m.offset, size=m.size))
        if len(items) == before:
            raise SourceError(f"empty class: {outer}/{inner_name} holds no images")
    return items


def _val(root: Path, layout: str, index: dict[str, int], labels_path: str | None,
         rejected: list[dict], subset: bool = False) -> list[Item]:
    """Val images with their train-class index; with `subset` (source.synsets), the images of
    other classes are left out, otherwise such an image is an error."""
    val_dir = root / "val"
    if layout == "extracted" and not val_dir.is_dir():
        raise SourceError(f"ImageNet val folder not found: {val_dir}")
    if layout == "extracted" and any(p.is_dir() for p in val_dir.iterdir()):
        items = []
        dirs, dir_links = class_dirs(val_dir)
        rejected += [skip_entry(d.name, f"val/{d.name}", LINK) for d in dir_links]
        for d in dirs:
            if d.name not in index and subset:
                continue
            if d.name not in index:
                raise SourceError(f"{d}: class {d.name!r} is not among the train classes{SUBSET_HINT}")
            files, links = images_in(d)
            items += [_item(f.name, d.name, index, f"val/{d.name}/{f.name}", path=str(f)) for f in files]
            rejected += [skip_entry(f.name, f"val/{d.name}/{f.name}", LINK) for f in links]
        return items
    labels = load_val_labels(root, labels_path)
    files = []
    if layout == "extracted":
        for f in sorted(val_dir.iterdir()):
            if f.is_symlink() and is_image_name(f.name):
                rejected.append(skip_entry(f.name, f"val/{f.name}", LINK))
            elif f.is_file() and is_image_name(f.name):
                files.append((f.name, dict(path=str(f)), f"val/{f.name}"))
    else:
        for m in iter_tar(root / VAL_TAR):
            if isinstance(m, Rejected):
                rejected.append(skip_entry(m.name, f"{VAL_TAR}/{m.name}", m.reason))
            elif is_image_name(m.name):
                files.append((m.name, dict(path=str(root / VAL_TAR), offset=m.offset, size=m.size),
                              f"{VAL_TAR}/{m.name}"))
    if not files:
        raise SourceError(f"no val images in {val_dir if layout == 'extracted' else root / VAL_TAR}")
    items = []
    for name, where, origin in files:
        wnid = labels.get(_stem(name))
        if wnid is None:
            raise SourceError(f"{origin}: no label in the val labels file")
        if wnid not in index and subset:
            continue
        if wnid not in index:
            raise SourceError(f"{origin}: label {wnid!r} is not among the train classes{SUBSET_HINT}")
        items.append(_item(name, wnid, index, origin, **where))
    return items


def load_val_labels(root: Path, given: str | None) -> dict[str, str]:
    """image stem (ILSVRC2012_val_00000001) -> wnid."""
    if given is None:
        found = [root / c for c in LABEL_CANDIDATES if (root / c).is_file()]
        if not found:
            raise SourceError(f"no val labels under {root}: looked for {', '.join(LABEL_CANDIDATES)}; "
                              f"set source.val_labels")
        path = found[0]
    else:
        path = root / given
        if path.is_dir():
            path = next((p for p in (path / "data" / GROUND_TRUTH, path / GROUND_TRUTH) if p.is_file()), path)
        if not path.is_file():
            raise SourceError(f"val labels file not found: {path}")
    if path.suffix.lower() == ".csv":
        return _loc_solution(path)
    return _devkit_ground_truth(path)


def _loc_solution(path: Path) -> dict[str, str]:
    """LOC_val_solution.csv: ImageId,PredictionString ('n01751748 x0 y0 x1 y1 ...')."""
    with open(path, newline="") as f:
        rows = csv.DictReader(f)
        if rows.fieldnames is None or not {"ImageId", "PredictionString"} <= set(rows.fieldnames):
            raise SourceError(f"{path}: expected columns ImageId,PredictionString")
        out = {}
        for n, row in enumerate(rows, start=2):
            tokens = (row["PredictionString"] or "").split()
            if not tokens:
                raise SourceError(f"{path}:{n}: empty PredictionString")
            out[row["ImageId"]] = tokens[0]
    return out


def _devkit_synsets(meta: Path) -> list[tuple[int, str, str]]:
    """meta.mat -> [(ILSVRC2012_ID, wnid, words)] of the 1,000 leaf classes."""
    from scipy.io import loadmat

    if not meta.is_file():
        raise SourceError(f"devkit meta.mat not found: {meta} (needed to map ILSVRC2012_IDs to wnids)")
    syn = loadmat(str(meta), squeeze_me=True)["synsets"]
    return [(int(s["ILSVRC2012_ID"]), str(s["WNID"]), str(s["words"])) for s in syn
            if int(s["ILSVRC2012_ID"]) <= 1000]


def _devkit_ground_truth(path: Path) -> dict[str, str]:
    """One ILSVRC2012_ID per line, line i for ILSVRC2012_val_%08d % i."""
    wnid_of = {i: w for i, w, _ in _devkit_synsets(path.parent / "meta.mat")}
    out = {}
    for n, line in enumerate(path.read_text().split(), start=1):
        try:
            out[f"ILSVRC2012_val_{n:08d}"] = wnid_of[int(line)]
        except (ValueError, KeyError):
            raise SourceError(f"{path}:{n}: {line!r} is not an ILSVRC2012_ID in meta.mat") from None
    return out


def class_names(root: Path) -> dict[str, str]:
    """wnid -> words, from LOC_synset_mapping.txt or the devkit's meta.mat when present."""
    mapping = root / "LOC_synset_mapping.txt"
    if mapping.is_file():
        pairs = (line.split(" ", 1) for line in mapping.read_text().splitlines() if line.strip())
        return {p[0]: (p[1].strip() if len(p) > 1 else "") for p in pairs}
    meta = root / "ILSVRC2012_devkit_t12" / "data" / "meta.mat"
    if meta.is_file():
        return {w: words for _, w, words in _devkit_synsets(meta)}
    return {}
