"""Long-format CSVs under results/plots/ for dvc.yaml's top-level plots, one line per run.

    fid_over_training.csv   iteration, fid, run            every run's FID of G_ema over training
    g_sigma0.csv            iteration, sigma0, run         G's first layer (the one the paper's figure 3a plots)
    truncation.csv          fid, is, threshold, step, run  every model's IS-vs-FID sweep (step 0: no
                                                           truncation, then the threshold falling)
    collapse_d_loss.csv     iteration, d_loss, run         the collapse study's runs: D's loss ...
    collapse_sigma.csv      iteration, g_sigma0_max, run   ... and G's largest sigma0 over its conv/linear weights

`run` is "<variant>/s<seed>"; the templates in .dvc/plots/ draw a line per run, coloured by variant.
"""
from __future__ import annotations

from pathlib import Path

from biggan.report.collapse_study import g_weights_max
from biggan.report.collect import RunRecord
from biggan.files import write_csv

Groups = dict[str, list[RunRecord]]


def _name(r: RunRecord) -> str:
    return f"{r.spec.variant}/s{r.spec.seed}"


def _threshold(p: dict) -> bool:
    t = p.get("threshold")
    return isinstance(t, (int, float)) and not isinstance(t, bool)


def _first_g_layer(row: dict) -> str | None:
    return next((k for k in row if k.startswith("G/")), None)


def write_plot_data(groups: Groups, study: Groups, out_dir: Path) -> dict[str, Path]:
    runs = [r for rs in groups.values() for r in rs]
    study_runs = [r for rs in study.values() for r in rs]
    fid, sigma, trunc, col, col_sigma = [], [], [], [], []
    for r in runs + study_runs:
        fid += [{"iteration": e["iteration"], "fid": e["fid"], "run": _name(r)}
                for e in r.history("evals") if e.get("fid") is not None]
        for row in r.history("sigma0"):
            layer = _first_g_layer(row)
            if layer and row[layer] is not None:
                sigma.append({"iteration": row["iteration"], "sigma0": row[layer], "run": _name(r)})
    for r in runs:
        trunc += [{"fid": p["fid"], "is": p["is_mean"], "threshold": p["threshold"] if _threshold(p) else "none",
                   "step": i, "run": _name(r)} for i, p in enumerate(r.sweep_means())]
    for r in study_runs:
        col += [{"iteration": row["iteration"], "d_loss": row["d_loss"], "run": _name(r)}
                for row in r.history("losses") if row.get("d_loss") is not None]
        for row in r.history("sigma0"):
            g = g_weights_max(row)
            if g is not None:
                col_sigma.append({"iteration": row["iteration"], "g_sigma0_max": g, "run": _name(r)})
    out = Path(out_dir)
    return {"fid_over_training": write_csv(out / "fid_over_training.csv", fid, ["iteration", "fid", "run"]),
            "g_sigma0": write_csv(out / "g_sigma0.csv", sigma, ["iteration", "sigma0", "run"]),
            "truncation": write_csv(out / "truncation.csv", trunc, ["fid", "is", "threshold", "step", "run"]),
            "collapse_d_loss": write_csv(out / "collapse_d_loss.csv", col, ["iteration", "d_loss", "run"]),
            "collapse_sigma": write_csv(out / "collapse_sigma.csv", col_sigma, ["iteration", "g_sigma0_max", "run"])}
