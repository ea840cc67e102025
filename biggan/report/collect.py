"""The runs behind the tables: one record per (variant, seed), read from the stages' files.

    metrics/train/<variant>/s<seed>.json    train stage summary (collapse iteration, params_m, ...)
    metrics/train/<variant>/s<seed>.*.csv   its losses, evaluations and sigma0 over training
    metrics/sweep/<variant>/s<seed>.json    sweep stage summary (the four Table 2 entries)
    metrics/sweep/<variant>/s<seed>.csv     every sweep point (the truncation curves)
    data/refstats/<dataset>/metrics.json    IS/FID of the real validation images

The collapse study's runs (`collapse_study:`, trained by the same stage) have train files only, in the
same layout under metrics/collapse/<configuration>/.

Every number in a table is taken from one of these files, and the file is named in the
table's JSON (`sources`), so each cell can be traced to the run that produced it.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from biggan.config.params import Params, RunSpec


class MissingRunOutput(FileNotFoundError):
    pass


@dataclass(frozen=True)
class RunRecord:
    spec: RunSpec
    train: dict               # train stage summary
    sweep: dict               # sweep stage summary
    sweep_rows: list[dict]    # every sweep point
    train_path: Path
    sweep_path: Path | None

    def history(self, kind: str) -> list[dict]:
        """The run's `losses`, `evals` or `sigma0` CSV beside its summary, as numbers."""
        path = self.train_path.with_name(f"{self.train_path.stem}.{kind}.csv")
        return read_sweep_csv(path) if path.is_file() else []

    def sweep_points(self) -> tuple[list, dict]:
        """(thresholds: None = untruncated first, then falling; threshold -> sweep seed -> point)."""
        pts: dict = {}
        for p in self.sweep_rows:
            if p.get("fid") is not None and p.get("is_mean") is not None:
                t = p.get("threshold")
                t = t if isinstance(t, (int, float)) and not isinstance(t, bool) else None
                pts.setdefault(t, {})[p.get("sweep_seed") or 0] = p
        return ([None] if None in pts else []) + sorted((t for t in pts if t is not None), reverse=True), pts

    def sweep_means(self) -> list[dict]:
        """The sweep curve in sweep_points' order, FID and IS averaged over the sweep seeds."""
        order, pts = self.sweep_points()
        return [{"threshold": t, **{k: sum(p[k] for p in pts[t].values()) / len(pts[t]) for k in ("fid", "is_mean")}}
                for t in order]

    @property
    def variant(self) -> str:
        return self.spec.variant

    @property
    def sources(self) -> list[str]:
        return [str(p) for p in (self.train_path, self.sweep_path) if p is not None]


def _read_json(path: Path, stage: str) -> dict:
    if not path.is_file():
        raise MissingRunOutput(f"{path} is missing: it is written by the {stage} stage "
                               f"(`dvc repro {stage}`)")
    return json.loads(path.read_text())


def read_sweep_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        out.append({k: _number(v) for k, v in r.items()})
    return out


def _number(v: str):
    if v in ("", None):
        return None
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(v, v)


def run_file(root: Path, variant: str, seed: int, suffix: str = ".json") -> Path:
    """<root>/<variant>/s<seed><suffix>: where the train and sweep stages put one run's files."""
    return Path(root) / variant / f"s{seed}{suffix}"


def collect(params: Params, train_dir: Path, sweep_dir: Path) -> dict[str, list[RunRecord]]:
    """variant -> its runs (one per seed), in params order; raises MissingRunOutput."""
    out: dict[str, list[RunRecord]] = {}
    for spec in params.runs():
        tp, sp = run_file(train_dir, spec.variant, spec.seed), run_file(sweep_dir, spec.variant, spec.seed)
        train, sweep = _read_json(tp, "train"), _read_json(sp, "sweep")
        csv_path = sp.with_suffix(".csv")
        rows = read_sweep_csv(csv_path) if csv_path.is_file() else []
        out.setdefault(spec.variant, []).append(RunRecord(spec, train, sweep, rows, tp, sp))
    return out


def collect_study(params: Params, study_dir: Path) -> dict[str, list[RunRecord]]:
    """The collapse study's runs (the train stage's files under `study_dir`): variant -> its
    runs, train files only."""
    out: dict[str, list[RunRecord]] = {}
    for spec in params.runs("collapse_study"):
        tp = run_file(study_dir, spec.variant, spec.seed)
        train = _read_json(tp, "train")
        out.setdefault(spec.variant, []).append(RunRecord(spec, train, {}, [], tp, None))
    return out


def real_scores(refstats_dir: Path, dataset: str) -> tuple[dict, Path]:
    """IS/FID of the real validation images of `dataset` (the ref_stats stage's metrics)."""
    path = Path(refstats_dir) / dataset / "metrics.json"
    return _read_json(path, f"ref_stats@{dataset}"), path
