"""`dvc repro` for real, in a temporary copy of the repo with the tiny params profile.

One full run (module fixture) is then inspected: the tables' structure, every number traced
to a run's metrics file, the claims and the collapse study, a clean `dvc status`, a no-op
repro, the stages a one-variant change invalidates (training on, never the data), DVC's
lock against a concurrent repro,
an interrupted repro that resumes, and DVC's metrics, plots and experiments. Every dvc call
is `.venv/bin/dvc` from a shell without the venv on PATH, as README writes it.
"""
from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import shutil

import pytest
import yaml

from tests.browser import axis_scales, chromium, line_colours, needs_chromium, vega_views
from tests.pipeline_repo import dvc_env, make_tiny_repo, run_dvc

pytestmark = pytest.mark.slow

T1_COLUMNS = ["Variant", "Batch", "Ch.", "Param (M)", "Shared", "Skip-z", "Ortho.", "Itr", "FID", "IS"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = make_tiny_repo(tmp_path_factory.mktemp("pipeline") / "repo")
    run_dvc(repo, "repro")
    return repo


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_tables_have_the_papers_columns_and_published_rows(repo):
    with open(repo / "results/table1.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:len(T1_COLUMNS)] == T1_COLUMNS
    assert [r["Variant"] for r in rows] == ["tiny full"]
    assert rows[0]["Paper: FID"] == "8.51 ± 0.32" and rows[0]["Paper: IS"] == "99.31 ± 2.1" and rows[0]["Shared"] == "✓"
    md = (repo / "results/table2.md").read_text()
    assert "No truncation" in md and "Valid IS" in md and "8.7 / 98.8" in md
    t3 = (repo / "results/table3.md").read_text()
    assert "tiny multi-label" in t3 and "23.48 / 24.78" in t3
    for png in ("truncation_curves.png", "sigma0.png", "collapse_study.png"):
        assert (repo / "results" / png).read_bytes()[:4] == b"\x89PNG"


def test_every_number_traces_to_a_run_metrics_file(repo):
    doc = load(repo / "results/tables.json")
    row = doc["tables"]["table1"]["rows"][0]
    train_json, sweep_json = (repo / s for s in row["sources"])
    train, sweep = load(train_json), load(sweep_json)
    assert train_json == repo / "metrics/train/full/s0.json" and sweep_json == repo / "metrics/sweep/full/s0.json"
    assert row["fid"][0] == pytest.approx(sweep["no_trunc"]["fid"])
    assert row["is"][0] == pytest.approx(sweep["no_trunc"]["is"])
    assert row["params_m"] == train["params_m"]
    assert row["itr"]["stable_to"] == ([] if train["collapsed"] else [train["stable_to"]])
    with open(repo / "results/table1.csv", newline="") as f:
        shown = next(csv.DictReader(f))
    assert shown["FID"] == f"{sweep['no_trunc']['fid']:.2f}"
    t2 = doc["tables"]["table2"]["rows"][0]
    for key in ("min_fid", "valid_is", "max_is"):
        assert t2[key]["fid"][0] == pytest.approx(sweep[key]["fid"])
    real = load(repo / "data/refstats/d16/metrics.json")
    assert t2["real_val_is"] == pytest.approx(real["val_is_mean"])
    scores = load(repo / "metrics/scores/sweep/full.json")
    assert scores["fid_none"] == pytest.approx(sweep["no_trunc"]["fid"], abs=1e-4)
    assert load(repo / "metrics/scores/train/full.json")["fid"] == pytest.approx(train["fid_best"], abs=1e-4)


def test_claims_and_collapse_study_come_from_the_runs(repo):
    claims = load(repo / "results/claims.json")["claims"]
    assert {c["id"] for c in claims} >= {"batch", "width", "truncation_is", "truncation_fid", "ortho", "collapse",
                                          "r1", "r1_cost", "clamp", "earlier"}
    assert all(c["verdict"] in ("reproduced", "not reproduced", "inconclusive") for c in claims)
    # one seed per model in the tiny profile: no verdict may claim more than the spread allows
    assert {c["id"]: c["verdict"] for c in claims}["batch"] == "inconclusive"
    col = load(repo / "results/tables.json")["tables"]["collapse"]["rows"]
    (row,) = col
    unstable = load(repo / "metrics/collapse/unstable/s0.json")
    assert load(repo / "metrics/scores/collapse/unstable.json")["collapsed"] == int(unstable["collapsed"])
    assert row["variant"] == "unstable" and row["collapsed"] == [unstable["collapsed"]]
    assert row["collapse_iterations"] == [unstable["collapse_iteration"]]
    assert "tiny unstable" in (repo / "results/collapse.md").read_text()
    headline = load(repo / "results/metrics.json")
    assert sum(headline.values()) == len(claims)


def test_status_is_clean_and_a_noop_repro_runs_nothing(repo):
    assert "up to date" in run_dvc(repo, "status").stdout
    out = run_dvc(repo, "repro").stdout
    assert "Running stage" not in out and "up to date" in out


def test_changing_one_variant_reruns_training_and_what_follows_never_the_data(repo):
    params_path = repo / "params.yaml"
    original = params_path.read_text()
    params = yaml.safe_load(original)
    params["variants"]["jft"]["train"] = {"iterations": 25}
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        status = json.loads(run_dvc(repo, "status", "--json").stdout)
        dry = run_dvc(repo, "repro", "--dry").stdout
    finally:
        params_path.write_text(original)
    # stages whose own deps changed (register: the variants are its candidates); one train stage
    # trains every run in one pool
    assert sorted(status) == ["register", "sweep", "tables", "train"]
    would_run = re.findall(r"Running stage '([^']+)'", dry)
    assert would_run[0] == "train" and set(would_run) <= {"train", "sweep", "tables", "register"}
    assert "up to date" in run_dvc(repo, "status").stdout


def test_a_concurrent_repro_gets_the_lock_error(repo):
    first = subprocess.Popen([str(repo / ".venv/bin/dvc"), "repro", "--force", "-s", "sweep"], cwd=repo, env=dvc_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(first.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.time() + 60
        while time.time() < deadline and first.poll() is None and not any("Running stage" in x for x in lines):
            time.sleep(0.05)
        second = run_dvc(repo, "repro", "-s", "tables", check=False)
    finally:
        first.wait(120)
        reader.join(10)
    assert first.returncode == 0, "".join(lines)
    said = (second.stdout + second.stderr).lower()
    assert second.returncode != 0 and ("lock" in said or "busy" in said), said


def test_an_interrupted_repro_resumes_and_never_looks_finished(repo):
    params_path = repo / "params.yaml"
    original = params_path.read_text()
    params = yaml.safe_load(original)
    params["variants"]["full"]["train"] = {"iterations": 60, "checkpoint_every": 10}
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    metrics = repo / "metrics/train/full/s0.json"
    other = load(repo / "metrics/train/jft/s0.json")                # completed in the first repro
    store = repo / "checkpoints/train"
    before = set(store.glob("full-s0-*"))
    try:
        proc = subprocess.Popen([str(repo / ".venv/bin/dvc"), "repro", "train"], cwd=repo, env=dvc_env(), start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 180
        while time.time() < deadline:
            ckpts = [c for run in set(store.glob("full-s0-*")) - before for c in run.glob("ckpt_*") if c.is_dir()]
            if any(int(p.name.split("_")[1]) >= 20 for p in ckpts):
                break
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint written within 180 s")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert not metrics.exists()                       # removed before training: never stale
        status = json.loads(run_dvc(repo, "status", "--json", "train").stdout)
        assert "train" in status
        run_dvc(repo, "repro", "train")
        summary = load(metrics)
        assert summary["iterations_done"] == 60 and summary["resumes"], summary["resumes"]
        # the stage reran every run; the ones completed with this code and inputs were reused
        assert load(repo / "metrics/train/jft/s0.json") == other
    finally:
        params_path.write_text(original)


def test_metrics_plots_and_an_experiment_work_on_the_pipeline(repo):
    shown = run_dvc(repo, "metrics", "show").stdout
    assert "metrics/scores/train/full.json" in shown and "results/metrics.json" in shown
    assert max(len(line) for line in shown.splitlines()) < 200          # fits a (wide) terminal
    assert "mlflow" not in shown and "_s" not in shown.replace("metrics/scores", "")   # no ids, no timings
    # a rerun with identical results diffs empty: the metrics hold scores only, no ids or timings
    from tests.pipeline_repo import git
    run_dvc(repo, "repro")                          # up to date with params.yaml after the tests above
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "outputs")
    shutil.rmtree(repo / "checkpoints/train")       # retrain for real: completed runs would be reused
    run_dvc(repo, "repro", "--force", "-s", "train")
    assert run_dvc(repo, "metrics", "diff").stdout.strip() == ""
    run_dvc(repo, "plots", "show")
    page = (repo / "dvc_plots/index.html").read_text()
    assert "cdn.jsdelivr" not in page and "<script src=" not in page and "vegaEmbed" in page
    for name in ("FID of G_ema over training", "Truncation sweeps", "Collapse study: D"):
        assert name in page
    run_dvc(repo, "exp", "run", "-S", "+variants.jft.train.iterations=25", "-n", "jft25")   # +: a new key
    summary = load(repo / "metrics/train/jft/s0.json")
    assert summary["iterations_done"] == 25 and load(repo / "metrics/train/full/s0.json")["iterations_done"] != 25
    assert "jft25" in run_dvc(repo, "exp", "show", "--md").stdout


@needs_chromium
def test_plots_page_renders_offline_in_a_headless_browser(repo, tmp_path):
    """dvc_plots/index.html drawn by a real browser with no network: vega comes from the page;
    every run a line in its variant's colour, FID on log axes."""
    run_dvc(repo, "plots", "show")
    page = (repo / "dvc_plots/index.html").as_uri()
    png = tmp_path / "plots.png"
    chromium(page, "--window-size=1400,2400", f"--screenshot={png}")
    dom = chromium(page, "--dump-dom").stdout
    assert png.is_file() and png.stat().st_size > 10_000
    # every plot became a rendered vega view (an svg inside its div)
    views = vega_views(dom)
    assert len(views) == 5 and all("<svg" in v for v in views), dom[-3000:]
    assert axis_scales(views[0])["Y fid"] == "log" and axis_scales(views[2])["X fid"] == "log"
    colour = line_colours(views[0])                   # the tiny pipeline: one seed per variant
    assert set(colour) == {"full/s0", "jft/s0", "unstable/s0"} and len(set(colour.values())) == 3
    assert "Symbol legend titled 'variant'" in views[0]
