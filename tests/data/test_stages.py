"""The stage entry points: CLI, exit codes, kill-and-resume in a real subprocess."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from biggan.config import load_params
from biggan.data.multilabel_digits import labels_of
from biggan.data.shard.build import build_shards
from stages import digits_manifest, shard
from tests.data import fakes
from tests.data.test_shard import files, tar_samples

REPO = Path(__file__).resolve().parents[2]


def params_file(tmp_path: Path, datasets: dict) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump({"datasets": datasets}))
    return p


def fake_imagenet(root: Path, **kw) -> dict:
    return {"source": {"kind": "imagenet", "root": str(root)}, "resolution": 16,
            "shard_max_count": 2, "workers": 2, "max_skipped_fraction": 0.1, **kw}


def run_stage(args: list[str], kill_after: int | None = None) -> subprocess.CompletedProcess:
    """The shard stage in a subprocess; kill_after=N: SIGKILLed after N shards (tests/data/shard_killer.py)."""
    entry = ["stages.shard"] if kill_after is None else ["tests.data.shard_killer", str(kill_after)]
    proc = subprocess.Popen([sys.executable, "-m", *entry, "--no-progress", *args], cwd=REPO,
                            env=os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        try:   # the pool workers of a killed run exit on their own; this only makes sure
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_killed_stage_resumes_without_redoing_shards(extracted, tmp_path):
    params = params_file(tmp_path, {"fake": fake_imagenet(extracted)})
    args = ["--params", str(params), "--dataset", "fake", "--split", "train", "--out", str(tmp_path / "out")]
    out = tmp_path / "out" / "train"
    killed = run_stage(args, kill_after=2)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = sorted(p.name for p in out.iterdir())
    assert left == ["_progress.json", "shard-000000.tar", "shard-000001.tar", "shard-000002.tar.tmp"]
    before = {n: (out / n).stat().st_mtime_ns for n in ("shard-000000.tar", "shard-000001.tar")}

    done = run_stage(args)
    assert done.returncode == 0, done.stderr
    assert "11 samples in 6 shards, 1 skipped, 3 classes" in done.stdout
    assert {n: (out / n).stat().st_mtime_ns for n in before} == before
    uninterrupted = tmp_path / "uninterrupted"
    build_shards(load_params(params).datasets["fake"], "train", uninterrupted, name="fake", progress=False)
    assert files(out) == files(uninterrupted)


def test_bad_params_fail_before_any_work(extracted, tmp_path, capsys):
    out = tmp_path / "out"
    bad = params_file(tmp_path, {"fake": fake_imagenet(extracted, resolution=-1, colour="red")})
    assert shard.main(["--params", str(bad), "--dataset", "fake", "--split", "train", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "datasets.fake.resolution: Input should be greater than 0" in err
    assert "datasets.fake.colour: unknown key" in err
    one_split = params_file(tmp_path, {"fake": fake_imagenet(extracted, splits=["train"])})
    assert shard.main(["--params", str(one_split), "--dataset", "fake", "--split", "train", "--out", str(out)]) == 2
    assert "datasets.fake.splits: must be [train, val]: dvc.yaml shards both" in \
        capsys.readouterr().err.replace("\n", " ")
    good = params_file(tmp_path, {"fake": fake_imagenet(extracted)})
    assert shard.main(["--params", str(good), "--dataset", "nope", "--split", "train", "--out", str(out)]) == 2
    assert "datasets.nope: no such dataset; allowed: ['fake']" in capsys.readouterr().err
    missing = params_file(tmp_path, {"fake": fake_imagenet(tmp_path / "nowhere")})
    assert shard.main(["--params", str(missing), "--dataset", "fake", "--split", "train", "--out", str(out)]) == 2
    assert f"ImageNet root not found: {tmp_path / 'nowhere'}" in capsys.readouterr().err
    assert not out.exists()


def test_too_many_skipped_exits_3_and_a_higher_threshold_finishes_the_work(extracted, tmp_path, capsys):
    args = ["--dataset", "fake", "--split", "train", "--out", str(tmp_path / "o"), "--no-progress"]
    out = tmp_path / "o" / "train"
    strict = params_file(tmp_path, {"fake": fake_imagenet(extracted, max_skipped_fraction=0.0, workers=1)})
    assert shard.main(["--params", str(strict), *args]) == shard.EXIT_TOO_MANY_SKIPPED == 3
    err = capsys.readouterr().err
    assert "1 of 12 inputs skipped (fraction 0.08333, 8.33%): above datasets.fake.max_skipped_fraction 0.0" in err
    assert f"the reasons are in {out / 'skipped.json'}" in err
    assert not (out / "index.json").exists()
    shards = sorted(out.glob("shard-*.tar"))
    before = {p.name: p.stat().st_mtime_ns for p in shards}
    assert len(shards) == 6

    lenient = params_file(tmp_path, {"fake": fake_imagenet(extracted, max_skipped_fraction=0.1, workers=1)})
    assert shard.main(["--params", str(lenient), *args]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.tar")} == before   # reused
    fresh = tmp_path / "fresh"
    assert shard.main(["--params", str(lenient), *args[:-3], "--out", str(fresh), "--no-progress"]) == 0
    assert files(out) == files(fresh / "train")


def test_digits_manifest_feeds_a_top_k_manifest_dataset(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    params = params_file(tmp_path, {
        "digits": {"source": {"kind": "digits"}, "resolution": 16},
        "digits32": {"source": {"kind": "digits", "upsample_filter": "nearest"}, "resolution": 32},
        "multi": {"source": {"kind": "manifest", "path": str(raw / "manifest.jsonl"), "top_k_labels": 12},
                  "resolution": 16, "workers": 1, "shard_max_count": 1000},
    })
    assert digits_manifest.main(["--params", str(params), "--out", str(raw)]) == 0
    first = (raw / "manifest.jsonl").read_bytes()
    assert digits_manifest.main(["--params", str(params), "--out", str(raw)]) == 0
    assert (raw / "manifest.jsonl").read_bytes() == first
    rows = [json.loads(line) for line in first.decode().splitlines()]
    assert len(rows) == 1797 and sum(r["split"] == "val" for r in rows) == 359
    assert rows[8]["labels"] == labels_of(8) == ["digit_8", "even", "large", "loop"]

    assert shard.main(["--params", str(params), "--dataset", "multi", "--split", "val",
                       "--out", str(tmp_path / "shards")]) == 0
    out = tmp_path / "shards" / "val"
    assert not (tmp_path / "shards" / "train").exists()
    classes = json.loads((out / "classes.json").read_text())
    assert classes["num_classes"] == 12 and classes["multi_label"]
    ids = [c["id"] for c in classes["classes"]]
    assert ids[:7] == ["odd", "small", "large", "even", "prime", "loop", "straight"]
    assert all(i.startswith("digit_") for i in ids[7:])
    index = json.loads((out / "index.json").read_text())
    assert index["num_samples"] == 359 and index["skipped"] == 0
    for s in tar_samples(out).values():
        meta = json.loads(s["json"])
        assert meta["classes"] == sorted(ids.index(lbl) for lbl in meta["labels"] if lbl in ids)
        assert int(s["cls"]) == meta["classes"][0]


def test_digits_manifest_needs_one_split(tmp_path, capsys):
    params = params_file(tmp_path, {"a": {"source": {"kind": "digits"}, "resolution": 16},
                                    "b": {"source": {"kind": "digits", "split_seed": 1}, "resolution": 16}})
    assert digits_manifest.main(["--params", str(params), "--out", str(tmp_path / "raw")]) == 2
    assert "split differently; choose one with --digits" in capsys.readouterr().err
    assert digits_manifest.main(["--params", str(params), "--digits", "b", "--out", str(tmp_path / "raw")]) == 0
    labels = json.loads((tmp_path / "raw" / "labels.json").read_text())
    assert labels["split_seed"] == 1


def test_train_stage_checks_classes_on_disk_before_any_run_or_checkpoint(tmp_path, capsys, monkeypatch):
    """An image folder's class count is only known on disk: the train stage compares it with
    model.n_classes before an MLflow run or a checkpoint folder exists."""
    from stages import train as train_stage
    from tests.train.specs import BASE

    jpg = fakes.encoded(fakes.photo(0, (20, 20)), "JPEG")
    for cls in ("cat", "dog"):
        (tmp_path / "folder" / cls).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "folder" / cls / f"{i}.jpg").write_bytes(jpg)
    folder = {"source": {"kind": "imagefolder", "root": str(tmp_path / "folder"), "val_fraction": 0.3},
              "resolution": 16, "workers": 1}
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({**BASE, "datasets": {"pets": folder},
                                      "variants": {"tiny": {"dataset": "pets"}}}))   # n_classes 10
    shards = tmp_path / "shards"
    build_shards(load_params(params).datasets["pets"], "train", shards / "pets" / "train", progress=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    rc = train_stage.main(["--params", str(params), "--variant", "tiny", "--seed", "0", "--shards", str(shards),
                           "--storage", str(tmp_path / "ckpt"), "--models", str(tmp_path / "model"),
                           "--metrics-dir", str(tmp_path / "metrics"), "--scores", str(tmp_path / "scores")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "variants.tiny.model.n_classes: 10, but the training shards hold 2 classes" in err
    assert str(shards / "pets" / "train" / "index.json") in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "params.yaml", "shards"]
