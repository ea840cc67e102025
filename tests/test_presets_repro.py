"""README's paper-scale steps, literally, on a tiny ILSVRC2012 tree: `dvc repro` to the tables.

COST: one test of about 5 min on 2 CPU cores (294 s measured with the cores mostly free; 18 min
while other test runs shared them). It trains the imagenet128 preset's 128 px, ch 96 model (157 M
parameters with 3 classes) for 2 iterations on Ray Train (140 s) and scores it with the Inception
architecture on random weights made here (their sha256 goes into params, as a user's file's would
be checked); each FID is a 2048 x 2048 matrix square root. The other presets are checked
without training by tests/config/test_presets_dvc.py.

The tree is tests/data/fakes.py's: 3 synsets with a CMYK JPEG, a PNG named .JPEG, a grayscale
and a truncated JPEG (skipped: hence the skip threshold among the size edits). Params are
configs/imagenet128.yaml with README's YAML edits (tests/preset_edits.py) and sizes/device only.
"""
from __future__ import annotations

import csv
import json
import subprocess

import pytest
import yaml

from tests.data import fakes
from tests.pipeline_repo import dvc_env, make_tiny_repo, run_dvc
from tests.preset_edits import readme_edits, small, write_inception_weights

pytestmark = pytest.mark.slow
VARIANT = "t2_biggan128"


def load(path):
    return json.loads(path.read_text())


def stage(repo, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(repo / ".venv/bin/python"), "-m", *args], cwd=repo, env=dvc_env(),
                          capture_output=True, text=True, timeout=600)


@pytest.mark.timeout(2400)
def test_imagenet128_readme_steps_train_on_ray_and_fill_table2(tmp_path):
    tree = fakes.make_extracted(tmp_path / "ilsvrc")
    weights = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    sha256 = write_inception_weights(weights)
    raw = small(readme_edits("imagenet128", root=tree, weights=weights, sha256=sha256), VARIANT,
                n_classes=len(fakes.WNIDS))                    # a tree of 3 class folders
    assert raw["train"]["launcher"] == "ray" and raw["collapse_study"] == {}
    repo = make_tiny_repo(tmp_path / "repo", raw)              # `cp configs/imagenet128.yaml params.yaml`

    summary = stage(repo, "biggan", "summary", "--json")
    assert summary.returncode == 0, summary.stderr
    run_dvc(repo, "repro", timeout=2000)

    shards = load(repo / "data/shards/imagenet128/train/index.json")
    assert (shards["num_classes"], shards["num_samples"], shards["skipped"]) == (3, 11, 1)
    run = load(repo / f"metrics/train/{VARIANT}/s0.json")
    assert run["iterations_done"] == 2
    with open(repo / "results/table2.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    sweep = load(repo / f"metrics/sweep/{VARIANT}/s0.json")["no_trunc"]
    assert (row["Model"], row["Res."], row["Paper: model"]) == ("BigGAN 128", "128", "BigGAN 128"), row
    assert row["No truncation"] == f"{sweep['fid']:.2f} / {sweep['is']:.2f}", row
    assert row["Paper: No truncation"] == "8.7 / 98.8"                 # the published row beside ours
    # no collapse study, no Table 1 or 3 rows: the declared outputs exist, empty; nothing measured
    assert list((repo / "metrics/collapse").iterdir()) == []
    claims = {c["id"]: c for c in load(repo / "results/claims.json")["claims"]}
    assert claims["collapse"]["verdict"] == "inconclusive" and "not measured" in claims["collapse"]["measured"]
    assert "up to date" in run_dvc(repo, "status").stdout

    # the 1,000-class preset on this 3-class tree: refused before training, naming the key
    wrong = {**raw, "model": {**raw["model"], "n_classes": 1000}}
    (repo / "wrong.yaml").write_text(yaml.safe_dump(wrong, sort_keys=False))
    refused = stage(repo, "stages.train", "--params", "wrong.yaml", "--all")
    assert refused.returncode == 2 and (f"variants.{VARIANT}.model.n_classes: 1000, but the training shards "
                                        f"hold 3 classes") in refused.stderr, refused.stderr

    # the original tars and a declared subset of 2 synsets: the shard stage under DVC
    tars = fakes.make_archive(tmp_path / "ilsvrc_tars")
    subset = [fakes.WNIDS[0], fakes.WNIDS[2]]
    raw = small(readme_edits("imagenet128", root=tars, weights=weights, sha256=sha256, synsets=subset), VARIANT)
    assert raw["model"]["n_classes"] == 2
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    run_dvc(repo, "repro", "shard@imagenet128")
    train = load(repo / "data/shards/imagenet128/train/index.json")
    val = load(repo / "data/shards/imagenet128/val/index.json")
    assert (train["num_classes"], train["num_samples"], val["num_samples"]) == (2, 7, 4)
    assert train["source"] == {"layout": "archive", "classes_in_source": 3}
    assert "train" in json.loads(run_dvc(repo, "status", "--json").stdout)
