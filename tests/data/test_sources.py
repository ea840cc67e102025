from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from biggan.config.data import DatasetConfig
from biggan.data.items import LINK, NOT_REGULAR, UNSAFE_NAME, SourceError, make_key
from biggan.data.sources import list_source
from tests.data import fakes
from tests.data.conftest import imagenet_config


def listing(root: Path, split: str, **source):
    return list_source(imagenet_config(root, source={"kind": "imagenet", "root": str(root), **source}).source,
                       split)


@pytest.mark.parametrize("split", ["train", "val"])
def test_both_imagenet_layouts_list_the_same_items(extracted, archive, split):
    a, b = listing(extracted, split), listing(archive, split)
    assert a.notes["layout"] == "extracted" and b.notes["layout"] == "archive"
    assert [(i.key, i.classes) for i in a.items] == [(i.key, i.classes) for i in b.items]
    assert [i.read() for i in a.items] == [i.read() for i in b.items]   # byte ranges inside the tars
    assert [c.id for c in a.classes] == fakes.WNIDS == [c.id for c in b.classes]
    assert a.classes[0].name == "tench, Tinca tinca" == b.classes[0].name   # mapping file / meta.mat


def test_class_index_is_sorted_wnid_position(extracted):
    train = listing(extracted, "train")
    assert len(train.items) == 12
    assert {i.key: i.classes[0] for i in train.items}["n01484850_0"] == 2
    val = {i.key: i.classes[0] for i in listing(extracted, "val").items}
    assert [val[f"ILSVRC2012_val_{k + 1:08d}"] for k in range(6)] == \
        [fakes.WNIDS.index(w) for w in fakes.VAL_LABELS]


def test_val_labels_from_devkit_ground_truth(archive):
    val = listing(archive, "val", val_labels="ILSVRC2012_devkit_t12")
    assert [i.labels[0] for i in val.items] == fakes.VAL_LABELS


def test_missing_root_and_empty_class_are_named(tmp_path, extracted):
    with pytest.raises(SourceError, match=f"ImageNet root not found: {tmp_path / 'nope'}"):
        listing(tmp_path / "nope", "train")
    root = tmp_path / "copy"
    shutil.copytree(extracted, root)
    for f in (root / "train" / "n01443537").iterdir():
        f.unlink()
    with pytest.raises(SourceError, match=f"empty class: {root / 'train' / 'n01443537'}"):
        listing(root, "train")


def test_unlabelled_val_image_is_named(tmp_path, extracted):
    root = tmp_path / "copy"
    shutil.copytree(extracted, root)
    (root / "val" / "ILSVRC2012_val_00000099.JPEG").write_bytes(b"x")
    with pytest.raises(SourceError, match="val/ILSVRC2012_val_00000099.JPEG: no label"):
        listing(root, "val")


@pytest.mark.parametrize("bad", ["../escape.JPEG", "/abs/n01440764_9.JPEG"])
@pytest.mark.parametrize("where", ["outer", "inner"])
def test_unsafe_tar_members_are_skipped_and_reported(tmp_path, bad, where):
    ok = fakes.encoded(fakes.photo(0, (20, 20)), "JPEG")
    if where == "outer":
        outer = {"n01440764.tar": fakes.tar_bytes({"n01440764_0.JPEG": ok}), bad: ok}
        origin = f"ILSVRC2012_img_train.tar/{bad}"
    else:
        outer = {"n01440764.tar": fakes.tar_bytes({"n01440764_0.JPEG": ok, bad: ok})}
        origin = f"ILSVRC2012_img_train.tar/n01440764.tar/{bad}"
    (tmp_path / "ILSVRC2012_img_train.tar").write_bytes(fakes.tar_bytes(outer))
    got = listing(tmp_path, "train")
    assert [it.key for it in got.items] == ["n01440764_0"] and [c.id for c in got.classes] == ["n01440764"]
    assert got.rejected == [{"key": make_key(bad), "source": origin, "reason": UNSAFE_NAME}]


def test_unreadable_archive_is_refused(tmp_path):
    (tmp_path / "ILSVRC2012_img_train.tar").write_bytes(b"not a tar" * 100)
    with pytest.raises(SourceError, match="ILSVRC2012_img_train.tar: not a readable uncompressed tar"):
        listing(tmp_path, "train")


def test_empty_class_tar_in_archive(tmp_path):
    outer = {"n01440764.tar": fakes.tar_bytes({"n01440764_0.JPEG": b"x"}), "n01443537.tar": fakes.tar_bytes({})}
    (tmp_path / "ILSVRC2012_img_train.tar").write_bytes(fakes.tar_bytes(outer))
    with pytest.raises(SourceError, match="empty class: .*ILSVRC2012_img_train.tar/n01443537.tar"):
        listing(tmp_path, "train")


def test_links_are_skipped_and_reported_in_both_layouts(tmp_path):
    ok = fakes.encoded(fakes.photo(0, (20, 20)), "JPEG")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:   # an image, a symlink, a hard link, a device
        ti = tarfile.TarInfo("n01440764_0.JPEG")
        ti.size = len(ok)
        tf.addfile(ti, io.BytesIO(ok))
        for name, kind in (("n01440764_1.JPEG", tarfile.SYMTYPE), ("n01440764_2.JPEG", tarfile.LNKTYPE),
                           ("n01440764_3.JPEG", tarfile.CHRTYPE)):
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = kind, "/etc/passwd"
            tf.addfile(ti)
    merged = buf.getvalue()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ILSVRC2012_img_train.tar").write_bytes(fakes.tar_bytes({"n01440764.tar": merged}))
    got = listing(tmp_path / "a", "train")
    assert [it.key for it in got.items] == ["n01440764_0"]
    assert [(r["key"], r["reason"]) for r in got.rejected] == [
        ("n01440764_1", LINK), ("n01440764_2", LINK), ("n01440764_3", NOT_REGULAR)]

    # the extracted layout: a linked image and a linked class folder, neither followed
    cls = tmp_path / "b" / "train" / "n01440764"
    cls.mkdir(parents=True)
    (cls / "n01440764_0.JPEG").write_bytes(ok)
    (cls / "n01440764_1.JPEG").symlink_to("n01440764_0.JPEG")
    (tmp_path / "b" / "train" / "n09999999").symlink_to(cls)
    got = listing(tmp_path / "b", "train")
    assert [it.key for it in got.items] == ["n01440764_0"] and [c.id for c in got.classes] == ["n01440764"]
    assert got.rejected == [
        {"key": "n01440764_1", "source": "train/n01440764/n01440764_1.JPEG", "reason": LINK},
        {"key": "n09999999", "source": "train/n09999999", "reason": LINK}]
    # image folders follow the same policy
    (tmp_path / "c" / "cat").mkdir(parents=True)
    (tmp_path / "c" / "cat" / "0.jpg").write_bytes(ok)
    (tmp_path / "c" / "cat" / "1.jpg").symlink_to(tmp_path / "c" / "cat" / "0.jpg")
    got = list_source(imagefolder(tmp_path / "c").source, "train")
    assert [it.key for it in got.items] == ["cat_0"]
    assert got.rejected == [{"key": "cat_1", "source": "cat/1.jpg", "reason": LINK}]


def imagefolder(root: Path, **kw) -> DatasetConfig:
    return DatasetConfig.model_validate({"source": {"kind": "imagefolder", "root": str(root), **kw},
                                         "resolution": 8})


def test_imagefolder_with_and_without_split_folders(tmp_path):
    jpg = fakes.encoded(fakes.photo(1, (10, 10)), "JPEG")
    for split, n in (("train", 3), ("val", 1)):
        for c in ("cat", "dog"):
            (tmp_path / "a" / split / c).mkdir(parents=True)
            for i in range(n):
                (tmp_path / "a" / split / c / f"{i}.jpg").write_bytes(jpg)
    val = list_source(imagefolder(tmp_path / "a").source, "val")
    assert [(i.key, i.classes) for i in val.items] == [("cat_0", (0,)), ("dog_0", (1,))]
    flat = tmp_path / "a" / "train"
    (flat / "notes.txt").write_text("ignored")
    cfg = imagefolder(flat, val_fraction=0.5, split_seed=3).source
    keys = {s: {i.key for i in list_source(cfg, s).items} for s in ("train", "val")}
    assert keys["train"] | keys["val"] == {f"{c}_{i}" for c in ("cat", "dog") for i in range(3)}
    assert not keys["train"] & keys["val"]
    with pytest.raises(SourceError, match="there is no val split"):
        list_source(imagefolder(flat).source, "val")


def write_manifest(path: Path, rows: list[dict]) -> Path:
    if path.suffix == ".csv":
        lines = ["path,labels,split"] + [f"{r['path']},{';'.join(r['labels'])},{r.get('split', '')}"
                                         for r in rows]
        path.write_text("\n".join(lines) + "\n")
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


ROWS = [
    {"path": "a.png", "labels": ["dog", "animal"], "split": "train"},
    {"path": "b.png", "labels": ["cat", "animal"], "split": "train"},
    {"path": "c.png", "labels": ["car"], "split": "train"},
    {"path": "d.png", "labels": ["dog", "animal", "pet"], "split": "val"},
    {"path": "e.png", "labels": ["cat", "pet"], "split": "train"},
]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_manifest_keeps_top_k_by_frequency_ties_by_name(tmp_path, suffix):
    path = write_manifest(tmp_path / f"m{suffix}", ROWS)
    src = DatasetConfig.model_validate({"source": {"kind": "manifest", "path": str(path), "top_k_labels": 3},
                                        "resolution": 8}).source
    train = list_source(src, "train")
    # animal 3; cat, dog, pet 2 (ties by name: cat, dog); car 1 and pet dropped
    assert [c.id for c in train.classes] == ["animal", "cat", "dog"]
    assert [c.count for c in train.classes] == [3, 2, 2]
    assert {i.key: i.classes for i in train.items} == {"a": (0, 2), "b": (0, 1), "e": (1,)}
    assert train.notes["rows_without_kept_label"] == 1            # c.png: only 'car'
    assert {i.key: i.labels for i in train.items}["e"] == ("cat", "pet")   # all labels kept in json
    assert [i.key for i in list_source(src, "val").items] == ["d"]
    assert Path(train.items[0].path) == tmp_path / "a.png"


def test_manifest_errors_name_file_and_line(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"path": "a.png", "labels": ["x"]}\n{"path": "b.png"}\n')
    src = DatasetConfig.model_validate({"source": {"kind": "manifest", "path": str(path)}, "resolution": 8}).source
    with pytest.raises(SourceError, match=f"{path}:2: 'labels' must be a list"):
        list_source(src, "train")
    write_manifest(path, ROWS)
    big = src.model_copy(update={"top_k_labels": 9})
    with pytest.raises(SourceError, match="top_k_labels is 9, but .* has only 5 distinct labels"):
        list_source(big, "train")


def test_manifest_rows_without_split_use_seeded_hash(tmp_path):
    rows = [{"path": f"{i}.png", "labels": ["x"]} for i in range(200)]
    src = DatasetConfig.model_validate({"source": {"kind": "manifest", "path": str(write_manifest(
        tmp_path / "m.jsonl", rows)), "val_fraction": 0.25, "split_seed": 1}, "resolution": 8}).source
    val = {i.key for i in list_source(src, "val").items}
    assert 30 <= len(val) <= 70
    assert val == {i.key for i in list_source(src, "val").items}
    other = src.model_copy(update={"split_seed": 2})
    assert val != {i.key for i in list_source(other, "val").items}
