"""DVC stage: the results tables and figures from every run's metrics.

    python -m stages.tables --params params.yaml [--train-metrics metrics/train] \
        [--sweep-metrics metrics/sweep] [--refstats data/refstats] [--out results]

Writes <out>/table{1,2,3}.md and .csv (the paper's columns, the published numbers beside
ours), <out>/truncation_curves.png, <out>/sigma0.png, <out>/tables.json (every cell with the
metrics files it came from) and, last, <out>/metrics.json (the headline numbers for `dvc
metrics show`). Exit 2 when a run's metrics are missing (the message names the stage).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def run(params_path: str, train_dir: str, sweep_dir: str, refstats: str, out: str) -> dict:
    from biggan.config import load_params
    from biggan.report import figures
    from biggan.report.collect import collect, real_scores
    from biggan.report.render import write_tables
    from biggan.report.tables import table1, table2, table3
    from biggan.train.outputs import write_json

    params = load_params(params_path)
    groups = collect(params, Path(train_dir), Path(sweep_dir))
    real, real_src = {}, {}
    for ds in sorted({runs[0].spec.dataset_name for runs in groups.values()}):
        real[ds], real_src[ds] = real_scores(Path(refstats), ds)
    tables = [table1(groups), table2(groups, real), table3(groups, real)]
    out_dir = Path(out)
    figures.truncation_curves(groups, out_dir / "truncation_curves.png")
    figures.sigma0_figure(groups, Path(train_dir), out_dir / "sigma0.png")
    paths = write_tables(tables, out_dir, {"real_sources": {k: str(v) for k, v in real_src.items()},
                                           "params": str(params_path)})
    headline = {t.name: {d["variant"]: _headline(d) for d in t.data} for t in tables}
    paths["metrics.json"] = write_json(out_dir / "metrics.json", headline)
    for t in tables:
        print(f"{t.title}: {len(t.rows)} rows -> {paths[t.name + '.md']}")
    return paths


def _headline(d: dict) -> dict:
    """Flat numbers of one row (means over seeds) for DVC's metrics table."""
    out = {}
    for key in ("fid", "is"):
        if key in d and d[key][0] is not None:
            out[key] = round(d[key][0], 4)
    for key in ("no_trunc", "min_fid", "valid_is", "max_is"):
        if key in d and isinstance(d[key], dict):
            out[f"{key}_fid"] = round(d[key]["fid"][0], 4) if d[key]["fid"][0] is not None else None
            out[f"{key}_is"] = round(d[key]["is"][0], 4) if d[key]["is"][0] is not None else None
    if "itr" in d:
        out["collapsed_seeds"] = len(d["itr"]["collapse_iterations"])
    return out


def main(argv: list[str] | None = None) -> int:
    from biggan.config import ConfigError
    from biggan.report.collect import MissingRunOutput

    p = argparse.ArgumentParser(prog="python -m stages.tables", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--train-metrics", default="metrics/train")
    p.add_argument("--sweep-metrics", default="metrics/sweep")
    p.add_argument("--refstats", default="data/refstats")
    p.add_argument("--out", default="results")
    a = p.parse_args(argv)
    try:
        run(a.params, a.train_metrics, a.sweep_metrics, a.refstats, a.out)
    except (ConfigError, MissingRunOutput) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
