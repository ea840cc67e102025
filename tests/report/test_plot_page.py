"""The `dvc plots show` page as DVC renders it from the repo's dvc.yaml `plots:` and .dvc/plots/
templates: a line per run, the seeds of a variant in one colour, FID on log axes so trained
runs (FID 15-60) stay apart beside untrained ones (~1,000)."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from biggan.config import parse_params
from biggan.report.collect import RunRecord
from biggan.report.plot_data import write_plot_data
from tests.browser import axis_scales, chromium, line_colours, needs_chromium, points, vega_views
from tests.pipeline_repo import REPO_ROOT, dvc_env, tiny_params

DVC = str(Path(sys.executable).parent / "dvc")
# Two seeds of a variant trained to FID 15 and 60, beside an untrained variant near 1,000.
FINAL_FID = {"full/s0": 15.0, "full/s1": 60.0, "jft/s0": 980.0, "jft/s1": 990.0, "unstable/s0": 700.0,
             "unstable/s1": 800.0}


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, columns)
        w.writeheader()
        w.writerows(rows)


def _record(spec, folder: Path) -> RunRecord:
    """One run's outputs as the train and sweep stages leave them: a summary, its history CSVs."""
    name = f"{spec.variant}/s{spec.seed}"
    train = folder / spec.variant / f"s{spec.seed}.json"
    train.parent.mkdir(parents=True, exist_ok=True)
    train.write_text("{}")
    fid = FINAL_FID[name]
    write_csv(train.with_name(f"s{spec.seed}.evals.csv"), [{"iteration": 100, "fid": 1000.0},
                                                          {"iteration": 200, "fid": fid}], ["iteration", "fid"])
    write_csv(train.with_name(f"s{spec.seed}.sigma0.csv"), [{"iteration": 0, "G/linear": 1.0},
                                                           {"iteration": 200, "G/linear": fid / 10}], ["iteration", "G/linear"])
    write_csv(train.with_name(f"s{spec.seed}.losses.csv"), [{"iteration": 5, "d_loss": 1.0},
                                                           {"iteration": 10, "d_loss": 0.5}], ["iteration", "d_loss"])
    sweep = [{"threshold": "none", "fid": fid, "is_mean": 4.0}, {"threshold": 0.5, "fid": fid * 1.5, "is_mean": 3.0}]
    return RunRecord(spec, {}, {}, sweep, train, None)


def _plot_csvs(out: Path, folder: Path) -> None:
    """results/plots/ as the tables stage writes it (biggan.report.plot_data), for two seeds per run."""
    params = tiny_params()
    params["seeds"] = [0, 1]
    p = parse_params(params)
    groups: dict[str, list[RunRecord]] = {}
    study: dict[str, list[RunRecord]] = {}
    for section, into in (("variants", groups), ("collapse_study", study)):
        for spec in p.runs(section):
            into.setdefault(spec.variant, []).append(_record(spec, folder))
    write_plot_data(groups, study, out)


@pytest.fixture(scope="module")
def plots_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("plots")
    subprocess.run([DVC, "init", "-q", "--no-scm"], cwd=repo, check=True, env=dvc_env())
    shutil.copytree(REPO_ROOT / ".dvc/plots", repo / ".dvc/plots", ignore=shutil.ignore_patterns("offline.html"))
    shutil.copy(REPO_ROOT / ".dvc/config", repo / ".dvc/config")          # the page template: offline.html
    subprocess.run([sys.executable, "-m", "biggan.report.offline_html", str(repo / ".dvc/plots/offline.html")],
                   cwd=REPO_ROOT, check=True, capture_output=True)
    plots = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["plots"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"plots": plots}, sort_keys=False))
    _plot_csvs(repo / "results/plots", tmp_path_factory.mktemp("runs"))
    return repo


def _show(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([DVC, "plots", "show", *args], cwd=repo, env=dvc_env(), capture_output=True,
                          text=True, check=True, timeout=120)


def test_dvc_fills_every_template_with_a_colour_per_variant_and_log_fid(plots_repo):
    shown = json.loads(_show(plots_repo, "--json").stdout)
    assert not shown.get("errors"), shown["errors"]
    specs = {name: p[0]["content"] for name, p in shown["data"].items()}
    assert len(specs) == 5
    for name, spec in specs.items():
        enc = spec["encoding"]
        assert enc["color"]["field"] == "variant" and enc["detail"]["field"] == "run", name
        assert [t["as"] for t in spec["transform"]] == ["variant"], name
    assert specs["fid_over_training"]["encoding"]["y"]["scale"]["type"] == "log"
    assert specs["truncation"]["encoding"]["x"]["scale"]["type"] == "log"


@needs_chromium
def test_the_page_in_a_browser_colours_seeds_by_variant_and_spreads_trained_fids(plots_repo):
    _show(plots_repo, "-o", "page")
    dom = chromium((plots_repo / "page/index.html").as_uri(), "--dump-dom").stdout
    views = vega_views(dom)
    assert len(views) == 5, dom[-2000:]
    for view in views:
        colour = line_colours(view)
        study = {r for r in FINAL_FID if r.startswith("unstable/")}    # the collapse study's runs
        runs = study if "Collapse study" in view else set(FINAL_FID) - study if "Truncation" in view else set(FINAL_FID)
        assert set(colour) == runs, view[-2000:]
        variants = {r.split("/")[0] for r in runs}
        for v in variants:                          # a variant's seeds share its colour, no other has it
            assert colour[f"{v}/s0"] == colour[f"{v}/s1"]
        assert len({colour[f"{v}/s0"] for v in variants}) == len(variants)
    fid, trunc = views[0], views[2]
    assert axis_scales(fid)["Y fid"] == "log" and axis_scales(trunc)["X fid"] == "log"
    y = {float(d["fid"]): py for d, _, py in points(fid)}
    assert y[15.0] - y[60.0] > 0.25 * 320          # FID 15 to 60 spans a quarter of the 320 px plot or more
