"""README's paper-scale steps, literally, on a tiny ILSVRC2012 tree: `dvc repro` to Tables 1-2.

Issue 28 item 5: configs/imagenet128.yaml with README's path edits and sizes only
(tests/preset_edits.py): the extracted tree is sharded, the preset's real 128 px, ch 96 model
(157 M parameters with 3 classes) trains 2 iterations of batch 2 on Ray Train, is evaluated
during training and by the reference statistics and swept at 2 of the preset's thresholds (and
untruncated) with the FID Inception architecture on random weights made here (their sha256 goes
into params, as a user's file's would be checked), and the tables stage writes Tables 1-2. The
original tars are then only sharded (a declared subset of 2 synsets): training them again would
test nothing the first layout did not.

COST (Intel Xeon, 2 cores): 145 s alone on a quiet machine, 159 s in the suite beside another
xdist worker (BENCHMARKS.md, 2026-12-07); before the cuts below it took 203 s quiet and 750 s
replayed stage by stage at a load of ~10 (train 272 s, sweep 422 s). One variant trains
(t1_b2048_ch96_ortho: the full model, Table 1's last row and Table 2's BigGAN 128): each other
Table 1 row would be another 128 px run. Where the time goes: the train stage (model
construction, dominated by the orthogonal init's QRs; 2 steps; a 2.9 GB checkpoint) and the FIDs
(2048 x 2048 eigendecompositions: one for the val split, one during training, one per sweep point;
a sweep's points share the reference's square root). Standing BN statistics take one pass
(train.eval_standing_passes defaults to 16 G passes). The other presets are checked without
training by tests/config/test_presets_dvc.py.

The tree is tests/data/fakes.py's: 3 synsets with a CMYK JPEG, a PNG named .JPEG, a grayscale
and a truncated JPEG (skipped: hence the skip threshold among the size edits).
"""
from __future__ import annotations

import csv
import json
import subprocess

import pytest
import yaml

from tests.data import fakes
from tests.pipeline_repo import dvc_env, make_tiny_repo, run_dvc
from tests.preset_edits import changed_keys, readme_edits, small, write_inception_weights

pytestmark = pytest.mark.slow
VARIANT = "t1_b2048_ch96_ortho"
# what tests/preset_edits.small changes besides n_classes and the variants dropped: sizes, device
SIZES = {"seeds", *(f"datasets.imagenet128.{k}" for k in ("workers", "max_skipped_fraction", "shard_max_count")),
         *(f"train.{k}" for k in ("iterations", "batch_size", "accumulate", "num_workers", "threads_per_worker",
                                  "use_gpu", "precision", "eval_samples", "eval_standing_passes", "sheet_size")),
         *(f"eval.{k}" for k in ("num_samples", "batch_size", "is_splits", "pr_k", "pr_samples")),
         *(f"sweep.{k}" for k in ("num_samples", "standing_passes", "thresholds"))}


def load(path):
    return json.loads(path.read_text())


def stage(repo, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(repo / ".venv/bin/python"), "-m", *args], cwd=repo, env=dvc_env(),
                          capture_output=True, text=True, timeout=600)


@pytest.mark.timeout(2400)
def test_imagenet128_readme_steps_train_on_ray_sweep_and_write_tables(tmp_path):
    tree = fakes.make_extracted(tmp_path / "ilsvrc")
    weights = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    sha256 = write_inception_weights(weights)
    edited = readme_edits("imagenet128", root=tree, weights=weights, sha256=sha256)
    raw = small(edited, VARIANT, n_classes=len(fakes.WNIDS))   # a tree of 3 class folders
    assert raw["train"]["launcher"] == "ray" and raw["collapse_study"] == {}
    changed = changed_keys(edited, raw)                         # the architecture is the paper's
    assert {k for k in changed if k.startswith("model.")} == {"model.n_classes"}
    assert raw["variants"][VARIANT] == edited["variants"][VARIANT] and f"variants.{VARIANT}" not in changed
    assert {k for k in changed if not k.startswith(("model.", "variants."))} == SIZES
    repo = make_tiny_repo(tmp_path / "repo", raw)              # `cp configs/imagenet128.yaml params.yaml`

    summary = stage(repo, "biggan", "summary", "--json")
    assert summary.returncode == 0, summary.stderr
    run_dvc(repo, "repro", timeout=2000)

    shards = load(repo / "data/shards/imagenet128/train/index.json")
    assert (shards["num_classes"], shards["num_samples"], shards["skipped"]) == (3, 11, 1)
    # the Inception weights checked against the sha256 in params; the real images' statistics
    net = load(repo / "data/feature_net/metrics.json")
    assert (net["feature_net"], net["sha256"], net["parameters"]) == ("inception", sha256, 23_850_960)
    ref = load(repo / "data/refstats/imagenet128/metrics.json")
    inception = f"inception-2015-12-05:{sha256[:16]}"
    assert (ref["feature_net"], ref["dim"], ref["n_train"]) == (inception, 2048, 11)
    assert ref["val_fid"] >= 0 and ref["val_is_mean"] >= 1 - 1e-6

    # the paper's architecture trained and evaluated (rank 0's scorer, G_ema with standing stats)
    run = load(repo / f"metrics/train/{VARIANT}/s0.json")
    assert (run["iterations_done"], run["num_workers"], run["launcher"]) == (2, 1, "ray")
    assert (run["g_params"], run["d_params"]) == (70_306_372, 86_450_978)
    with open(repo / f"metrics/train/{VARIANT}/s0.evals.csv", newline="") as f:
        (ev,) = list(csv.DictReader(f))
    assert int(ev["iteration"]) == 2 and float(ev["fid"]) >= 0 and float(ev["is_mean"]) >= 1 - 1e-6
    assert run["fid_best"] == pytest.approx(float(ev["fid"]))

    # the sweep: untruncated and the preset's first and last thresholds, with Inception
    sweep = load(repo / f"metrics/sweep/{VARIANT}/s0.json")
    ts = yaml.safe_load((repo / "params.yaml").read_text())["sweep"]["thresholds"]
    assert sweep["thresholds"] == [None, 2.0, 0.04] == [None, *ts]
    assert (sweep["feature_net"], sweep["num_samples"], sweep["model_iteration"]) == (inception, 4, 2)
    with open(repo / f"metrics/sweep/{VARIANT}/s0.csv", newline="") as f:
        points = list(csv.DictReader(f))
    assert [p["threshold"] for p in points] == ["", "2.0", "0.04"]
    assert all(float(p["fid"]) >= 0 and int(p["n"]) == 4 for p in points)

    # Tables 1-2: ours beside the published numbers, one training for both rows
    with open(repo / "results/table2.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    no_trunc = sweep["no_trunc"]
    label = "BigGAN 128 (+ ortho, full)"
    assert (row["Model"], row["Res."], row["Paper: model"]) == (label, "128", "BigGAN 128"), row
    assert row["No truncation"] == f"{no_trunc['fid']:.2f} / {no_trunc['is']:.2f}", row
    assert row["Paper: No truncation"] == "8.7 / 98.8"                 # the published row beside ours
    assert "BigGAN 128" in (repo / "results/table2.md").read_text()
    with open(repo / "results/table1.csv", newline="") as f:
        (row1,) = list(csv.DictReader(f))
    assert (row1["Variant"], row1["Ch."], row1["Batch"], row1["Seeds"]) == (label, "96", "2", "1"), row1
    assert row1["FID"] == f"{no_trunc['fid']:.2f}" and row1["Paper: FID"] == "8.51 ± 0.32", row1
    assert "ImageNet 128x128" in (repo / "results/table1.md").read_text()
    # no collapse study, no Table 3 rows: the declared outputs exist, empty; nothing measured
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
