from __future__ import annotations

import io
import json
import shutil
import zlib
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from biggan.config.data import DatasetConfig
from biggan.data.loader import CorruptShardError, iter_split, make_train_stream, read_index
from biggan.data.multilabel_digits import write_digits_multilabel
from biggan.data.shard.build import build_shards
from tests.data.test_shard import tar_samples


def digits_shards(out: Path, max_count: int) -> Path:
    cfg = DatasetConfig.model_validate({"source": {"kind": "digits"}, "resolution": 16,
                                        "shard_max_count": max_count, "workers": 1})
    build_shards(cfg, "val", out, progress=False)
    return out


@pytest.fixture(scope="module")
def four(tmp_path_factory) -> Path:
    """359 digits in 4 shards (100, 100, 100, 59)."""
    return digits_shards(tmp_path_factory.mktemp("four"), 100)


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    return digits_shards(tmp_path_factory.mktemp("single"), 10000)


def keys_of(stream, n: int) -> list[str]:
    return [k for _, _, keys in islice(stream, n) for k in keys]


def test_read_index_names_unfinished_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path} is not a finished shard directory"):
        read_index(tmp_path)


def test_iter_split_yields_every_sample_once_in_order(four):
    samples = tar_samples(four)
    batches = list(iter_split(four, 100))
    assert [len(y) for _, y in batches] == [100, 100, 100, 59]
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    assert x.dtype == torch.uint8 and x.shape == (359, 3, 16, 16) and y.dtype == torch.int64
    ordered = list(samples)   # shard order, then tar order
    expected = np.stack([np.asarray(Image.open(io.BytesIO(samples[k]["png"]))) for k in ordered])
    assert np.array_equal(x.permute(0, 2, 3, 1).numpy(), expected)
    assert y.tolist() == [int(samples[k]["cls"]) for k in ordered]
    assert torch.equal(torch.cat([b[1] for b in iter_split(four, 64)]), y)


def _keys_of_shard(path: Path) -> set[str]:
    import tarfile

    with tarfile.open(path) as tf:
        return {m.name.split(".")[0] for m in tf.getmembers()}


def test_train_stream_values_and_determinism(four):
    x, y = next(make_train_stream(four, 32, seed=0))
    assert x.dtype == torch.float32 and x.shape == (32, 3, 16, 16) and x.is_contiguous()
    assert y.dtype == torch.int64 and y.shape == (32,) and 0 <= y.min() and y.max() < 10
    assert x.min() == -1.0 and x.max() == 1.0
    levels = (x + 1) * 127.5
    assert torch.allclose(levels, levels.round(), atol=1e-3)    # exactly the uint8 levels
    a = list(islice(make_train_stream(four, 32, seed=5, return_keys=True), 20))
    b = list(islice(make_train_stream(four, 32, seed=5, return_keys=True), 20))
    assert all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) and p[2] == q[2] for p, q in zip(a, b))
    other = keys_of(make_train_stream(four, 32, seed=6, return_keys=True), 20)
    assert other != [k for batch in a for k in batch[2]]
    assert len({k for batch in a for k in batch[2]}) > 300     # resampled: most, not all, in 640 draws


def test_ranks_see_disjoint_samples_with_one_shard(single):
    """1 shard, 2 ranks: rank r keeps the samples with crc32(key) % 2 == r."""
    keys = list(tar_samples(single))
    seen = [set(keys_of(make_train_stream(single, 16, seed=1, rank=r, world_size=2, return_keys=True), 40))
            for r in (0, 1)]
    for r in (0, 1):
        own = {k for k in keys if zlib.crc32(k.encode()) % 2 == r}
        assert seen[r] <= own and len(seen[r]) > 0.9 * len(own)
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) > 0.9 * len(keys)


def test_split_follows_the_arguments_not_the_environment(four, monkeypatch):
    """Ray Train sets RANK/WORLD_SIZE (webdataset's split_by_node reads them); several runs may
    share one Ray instance: the rank and world_size arguments alone decide the split."""
    plain = keys_of(make_train_stream(four, 16, seed=3, return_keys=True), 10)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert keys_of(make_train_stream(four, 16, seed=3, return_keys=True), 10) == plain


def test_ranks_own_whole_shards_when_there_are_enough(four):
    """4 shards, 2 ranks: rank 0 reads shards 0 and 2, rank 1 shards 1 and 3 (640 draws with
    replacement through a 1000-sample shuffle buffer reach ~90 % of a rank's 200 samples)."""
    own = [_keys_of_shard(four / "shard-000000.tar") | _keys_of_shard(four / "shard-000002.tar"),
           _keys_of_shard(four / "shard-000001.tar") | _keys_of_shard(four / "shard-000003.tar")]
    for r in (0, 1):
        seen = set(keys_of(make_train_stream(four, 16, seed=1, rank=r, world_size=2, return_keys=True), 40))
        assert seen <= own[r] and len(seen) > 0.8 * len(own[r])


def test_dataloader_workers_are_deterministic_and_split(single):
    def run() -> list[str]:
        return keys_of(make_train_stream(single, 16, seed=2, num_workers=2, return_keys=True), 8)

    first = run()
    assert first == run()
    even, odd = set(first[0:16] + first[32:48]), set(first[16:32] + first[48:64])   # round robin
    assert not even & odd


@pytest.mark.parametrize("shards", ["single", "four"])     # split by sample, by shard
def test_workers_interleave_the_streams_of_a_larger_world(request, shards):
    """Rank 1 of 2 with 2 workers = batches alternating between ranks 2 and 3 of 4 without
    workers: the same samples, pixels and labels, in a fixed order."""
    shard_dir = request.getfixturevalue(shards)
    got = list(islice(make_train_stream(shard_dir, 8, seed=4, rank=1, world_size=2, num_workers=2,
                                        return_keys=True), 6))
    ranks = [make_train_stream(shard_dir, 8, seed=4, rank=r, world_size=4, return_keys=True) for r in (2, 3)]
    want = [next(ranks[i % 2]) for i in range(6)]
    for (x, y, k), (wx, wy, wk) in zip(got, want):
        assert k == wk and torch.equal(y, wy) and torch.equal(x, wx)


def test_too_many_streams_for_the_data(tmp_path):
    cfg = DatasetConfig.model_validate({"source": {"kind": "imagefolder", "root": str(tmp_path / "src")},
                                        "resolution": 8, "workers": 1})
    (tmp_path / "src" / "a").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "src" / "a" / "0.png")
    build_shards(cfg, "train", tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="1 samples cannot feed 2 streams"):
        next(make_train_stream(tmp_path / "out", 2, seed=0, rank=1, world_size=2))


def test_multi_label_draws_one_of_the_sample_labels(tmp_path):
    write_digits_multilabel(tmp_path / "raw")
    cfg = DatasetConfig.model_validate({
        "source": {"kind": "manifest", "path": str(tmp_path / "raw" / "manifest.jsonl"), "top_k_labels": 12},
        "resolution": 8, "workers": 1})
    build_shards(cfg, "val", tmp_path / "out", progress=False)
    classes = {k: json.loads(s["json"])["classes"] for k, s in tar_samples(tmp_path / "out").items()}
    drawn: dict[str, set[int]] = {}
    for _, y, keys in islice(make_train_stream(tmp_path / "out", 64, seed=0, return_keys=True), 30):
        for k, label in zip(keys, y.tolist()):
            assert label in classes[k]
            drawn.setdefault(k, set()).add(label)
    assert max(len(v) for v in drawn.values()) >= 3
    assert sum(len(v) > 1 for v in drawn.values()) > len(drawn) // 2


def damaged_copy(src: Path, dst: Path, how: str) -> Path:
    shutil.copytree(src, dst)
    shard = dst / "shard-000001.tar"
    data = shard.read_bytes()
    if how == "truncated":
        shard.write_bytes(data[: len(data) // 2])
    elif how == "truncated-indexed":    # index.json agrees with the cut file: the tar reader notices
        shard.write_bytes(data[: 10240])
        index = json.loads((dst / "index.json").read_text())
        index["shards"][1]["bytes"] = 10240
        (dst / "index.json").write_text(json.dumps(index))
    else:   # same size, garbage in the middle: header checksums catch it
        shard.write_bytes(data[:5000] + bytes(range(256)) * 20 + data[5000 + 5120:])
    return dst


@pytest.mark.parametrize("how", ["truncated", "truncated-indexed", "garbage"])
def test_corrupt_shard_error_names_the_file(four, tmp_path, how):
    bad = damaged_copy(four, tmp_path / "bad", how)
    with pytest.raises(CorruptShardError, match=f"{bad / 'shard-000001.tar'}"):
        for _ in islice(make_train_stream(bad, 32, seed=0), 200):
            pass
    with pytest.raises(CorruptShardError, match="shard-000001.tar"):
        list(iter_split(bad, 50))


def test_corrupt_shard_skipped_with_warning(four, tmp_path):
    bad = damaged_copy(four, tmp_path / "bad", "garbage")
    lost = _keys_of_shard(four / "shard-000001.tar")
    stream = make_train_stream(bad, 32, seed=0, skip_corrupt=True, return_keys=True)
    with pytest.warns(RuntimeWarning, match="skipping corrupt shard .*shard-000001.tar"):
        seen = set(keys_of(stream, 60))
    assert len(seen) > 200 and seen <= set(tar_samples(four))
    assert len(seen & lost) <= 3     # at most the samples in front of the damage at byte 5000


def test_undecodable_image_is_named_or_skipped(four, tmp_path):
    import tarfile

    bad = shutil.copytree(four, tmp_path / "bad")
    shard = bad / "shard-000000.tar"
    with tarfile.open(shard) as tf:
        member = next(m for m in tf.getmembers() if m.name.endswith(".png"))
    data = bytearray(shard.read_bytes())
    data[member.offset_data + 40: member.offset_data + 80] = bytes(40)   # tar intact, PNG broken
    shard.write_bytes(bytes(data))
    where = f"{shard}:{member.name.split('.')[0]}: cannot decode image"
    with pytest.raises(CorruptShardError, match=where):
        for _ in islice(make_train_stream(bad, 32, seed=0), 200):
            pass
    stream = make_train_stream(bad, 32, seed=0, skip_corrupt=True, return_keys=True)
    with pytest.warns(RuntimeWarning, match=where):
        seen = set(keys_of(stream, 40))
    assert member.name.split(".")[0] not in seen and len(seen) > 300


def test_training_runs_read_with_the_loader_options(four):
    """train.loader reaches the stream through the job's ShardStream."""
    from biggan.config.data import LoaderConfig
    from biggan.train.factories import ShardStream

    x, y = next(ShardStream(str(four), 8, loader=LoaderConfig(workers=2))(0, 1, 4))
    wx, wy = next(make_train_stream(four, 8, seed=4, num_workers=2))
    assert torch.equal(x, wx) and torch.equal(y, wy)
    assert not torch.equal(x, next(make_train_stream(four, 8, seed=4))[0])
