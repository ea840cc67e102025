from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from biggan.config.data import DatasetConfig
from biggan.data.digits import digits_images
from biggan.data.items import LINK, UNSAFE_NAME, make_key
from biggan.data.shard.build import build_shards
from biggan.data.shard.report import TooManySkipped
from tests.data import fakes
from tests.data.conftest import imagenet_config


def tar_samples(shard_dir: Path) -> dict[str, dict[str, bytes]]:
    """key -> {ext: bytes} over every shard, read with the standard library."""
    out: dict[str, dict[str, bytes]] = {}
    for p in sorted(shard_dir.glob("shard-*.tar")):
        with tarfile.open(p) as tf:
            for m in tf.getmembers():
                key, ext = m.name.split(".", 1)
                out.setdefault(key, {})[ext] = tf.extractfile(m).read()
    return out


def files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_extracted_train_counts_labels_modes_and_skip_report(extracted, tmp_path):
    index = build_shards(imagenet_config(extracted), "train", tmp_path / "out", progress=False)
    samples = tar_samples(tmp_path / "out")
    assert index["num_samples"] == len(samples) == 11 and index["inputs"] == 12
    assert [s["count"] for s in index["shards"]] == [4, 4, 3]
    assert index["class_counts"] == [4, 4, 3]
    skipped = json.loads((tmp_path / "out" / "skipped.json").read_text())
    assert skipped["skipped"] == 1 and skipped["fraction"] == pytest.approx(1 / 12)
    (bad,) = skipped["items"]
    assert bad["source"] == f"train/n01484850/{fakes.TRUNCATED}" and "truncated" in bad["reason"].lower()
    for key, s in samples.items():
        wnid = key.split("_")[0]
        assert int(s["cls"]) == fakes.WNIDS.index(wnid)
        im = Image.open(io.BytesIO(s["png"]))
        assert (im.format, im.mode, im.size) == ("PNG", "RGB", (16, 16))
        meta = json.loads(s["json"])
        assert meta["labels"] == [wnid] and meta["source"] == f"train/{wnid}/{key}.JPEG"
    # the CMYK, palette-PNG-named-.JPEG and grayscale files made it, with their original sizes
    assert json.loads(samples["n01443537_1"]["json"])["size"] == [48, 34]
    assert json.loads(samples["n01443537_2"]["json"])["size"] == [56, 34]
    gray = np.asarray(Image.open(io.BytesIO(samples["n01443537_3"]["png"])))
    assert (gray[..., 0] == gray[..., 1]).all() and gray.std() > 0
    classes = json.loads((tmp_path / "out" / "classes.json").read_text())
    assert classes["classes"][0] == {"index": 0, "id": "n01440764", "name": "tench, Tinca tinca"}


def test_archive_layout_gives_the_same_images(extracted, archive, tmp_path):
    a = tar_samples(_built(extracted, tmp_path / "a", "val"))
    b = tar_samples(_built(archive, tmp_path / "b", "val"))
    assert a.keys() == b.keys() and len(a) == 6
    for k in a:
        assert (a[k]["png"], a[k]["cls"]) == (b[k]["png"], b[k]["cls"])
        assert json.loads(b[k]["json"])["source"] == f"ILSVRC2012_img_val.tar/{k}.JPEG"


def _built(root: Path, out: Path, split: str = "train", **kw) -> Path:
    build_shards(imagenet_config(root, **kw), split, out, progress=False)
    return out


def test_byte_identical_twice_and_for_any_worker_count(extracted, tmp_path):
    one = files(_built(extracted, tmp_path / "one", encoding="jpg", quality=80))
    two = files(_built(extracted, tmp_path / "two", encoding="jpg", quality=80, workers=2))
    assert one == two
    assert {"shard-000000.tar", "index.json", "skipped.json", "classes.json"} <= one.keys()
    assert "_progress.json" not in one
    shuffled = files(_built(extracted, tmp_path / "three", encoding="jpg", quality=80, shuffle_seed=1))
    assert shuffled["shard-000000.tar"] != one["shard-000000.tar"]


def test_shard_size_by_bytes(extracted, tmp_path):
    index = build_shards(imagenet_config(extracted, shard_max_count=100, shard_max_bytes=20480),
                         "train", tmp_path, progress=False)
    assert len(index["shards"]) > 1
    assert all(s["bytes"] <= 20480 for s in index["shards"])
    assert sum(s["count"] for s in index["shards"]) == 11


def test_draft_decoding_changes_pixels_of_large_jpegs(tmp_path):
    (tmp_path / "src" / "a").mkdir(parents=True)
    for i in range(2):
        fakes.photo(i, (500, 375)).save(tmp_path / "src" / "a" / f"{i}.jpg", quality=95)

    def shard(draft: bool) -> dict:
        cfg = {"source": {"kind": "imagefolder", "root": str(tmp_path / "src")}, "resolution": 64,
               "draft": draft, "workers": 1}
        out = tmp_path / f"d{draft}"
        build_shards(DatasetConfig.model_validate(cfg), "train", out, progress=False)
        return tar_samples(out)
    plain, draft = shard(False), shard(True)
    assert plain["a_0"]["json"] == draft["a_0"]["json"]
    diff = np.abs(np.asarray(Image.open(io.BytesIO(plain["a_0"]["png"])), float)
                  - np.asarray(Image.open(io.BytesIO(draft["a_0"]["png"])), float))
    assert 0 < diff.mean() < 8


def test_digits_shards_hold_exactly_digits_images(tmp_path):
    cfg = DatasetConfig.model_validate({"source": {"kind": "digits", "upsample_filter": "bilinear"},
                                        "resolution": 24, "workers": 1})
    index = build_shards(cfg, "val", tmp_path, progress=False)
    images, labels = digits_images("val", 24, "bilinear")
    assert index["num_samples"] == len(labels) == 359
    samples = tar_samples(tmp_path)
    order = sorted(samples)   # digits_NNNN keys sort like the split's indices
    got = np.stack([np.asarray(Image.open(io.BytesIO(samples[k]["png"]))) for k in order])
    assert np.array_equal(got, images)
    assert [int(samples[k]["cls"]) for k in order] == labels.tolist()


def test_too_many_skipped_fails_without_index(extracted, tmp_path):
    with pytest.raises(TooManySkipped, match=r"1 of 12 inputs skipped \(fraction 0.08333, 8.33%\): "
                                             r"above max_skipped_fraction 0.05; the reasons are in .*skipped.json"):
        build_shards(imagenet_config(extracted, max_skipped_fraction=0.05), "train", tmp_path, progress=False)
    assert (tmp_path / "skipped.json").is_file() and not (tmp_path / "index.json").exists()


def quirky_config(root: Path, **kw) -> DatasetConfig:
    return imagenet_config(root, max_skipped_fraction=0.5, **kw)


def skip_report(out: Path) -> list[tuple[str, str]]:
    return sorted((s["key"], s["reason"]) for s in json.loads((out / "skipped.json").read_text())["items"])


def test_quirky_tree_and_tar_of_tars_give_the_same_samples_and_skip_report(quirky_extracted, quirky_archive,
                                                                           tmp_path):
    """CMYK, PNG named .JPEG, grayscale, palette, truncated, empty, a link; the archive also holds a
    '../escape.JPEG' member, which is skipped (reported) while the rest of the archive is sharded."""
    a = _built(quirky_extracted, tmp_path / "a", **{"max_skipped_fraction": 0.5})
    b = _built(quirky_archive, tmp_path / "b", **{"max_skipped_fraction": 0.5})
    sa, sb = tar_samples(a), tar_samples(b)
    assert sa.keys() == sb.keys() and len(sa) == 11
    assert all((sa[k]["png"], sa[k]["cls"]) == (sb[k]["png"], sb[k]["cls"]) for k in sa)
    expected = [("n01440764_4", "cannot decode: empty file"),
                ("n01443537_9", LINK),
                ("n01484850_3", "cannot decode: OSError: Truncated File Read")]
    assert skip_report(a) == expected
    assert skip_report(b) == sorted([*expected, (make_key(fakes.ESCAPE), UNSAFE_NAME)])
    index = json.loads((b / "index.json").read_text())
    assert (index["inputs"], index["skipped"], index["num_samples"]) == (15, 4, 11)
    escape = json.loads((b / "skipped.json").read_text())["items"][0]
    assert escape["source"] == "ILSVRC2012_img_train.tar/n01440764.tar/../escape.JPEG"


def test_skip_report_is_stable_text_across_processes(quirky_extracted, tmp_path):
    one = files(_built(quirky_extracted, tmp_path / "one", max_skipped_fraction=0.5))
    two = files(_built(quirky_extracted, tmp_path / "two", max_skipped_fraction=0.5, workers=2))
    assert one == two
    assert b" at 0x" not in one["skipped.json"] + one["index.json"]
    assert json.loads(one["index.json"])["skipped"] == 3


def test_stale_shards_are_discarded(extracted, tmp_path):
    out = tmp_path / "out"
    _built(extracted, out, shard_max_count=2)
    assert len(list(out.glob("shard-*.tar"))) == 6
    _built(extracted, out)            # other params: 3 shards, the old ones all gone
    assert files(out) == files(_built(extracted, tmp_path / "fresh"))


def test_damaged_shard_and_changed_input_are_redone(extracted, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(extracted, root)
    out = _built(root, tmp_path / "out")
    reference = files(out)
    shard = out / "shard-000001.tar"
    data = bytearray(shard.read_bytes())
    data[700] ^= 0xFF                                   # same size, one byte of data changed
    shard.write_bytes(bytes(data))
    first = (out / "shard-000000.tar").stat().st_mtime_ns
    _built(root, out)
    assert files(out) == reference
    assert (out / "shard-000000.tar").stat().st_mtime_ns == first   # reused, not rewritten
    old = tar_samples(out)["n01440764_0"]["png"]
    (root / "train" / "n01440764" / "n01440764_0.JPEG").write_bytes(
        fakes.encoded(fakes.photo(77, (40, 30)), "JPEG"))          # an input changed in place
    _built(root, out)
    assert tar_samples(out)["n01440764_0"]["png"] != old
    assert files(out) == files(_built(root, tmp_path / "fresh"))
