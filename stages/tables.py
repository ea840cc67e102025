"""DVC stage: the results tables and figures from every run's metrics.

    python -m stages.tables --params params.yaml [--train-metrics metrics/train] \
        [--study-metrics metrics/collapse] [--sweep-metrics metrics/sweep] \
        [--refstats data/refstats] [--out results]

Writes <out>/table{1,2,3}.md and .csv (the paper's columns, the published numbers beside
ours), <out>/collapse.md and .csv (the collapse study), <out>/claims.md and .json (each of
the paper's claims: our measurement, the test, the verdict), <out>/plots/*.csv (plot data
for dvc.yaml's top-level plots), <out>/truncation_curves.png, <out>/sigma0.png,
<out>/tables.json (every cell with the metrics files it came from) and, last,
<out>/metrics.json (verdict counts for `dvc metrics show`). Exit 2 when a run's metrics are
missing (the message names the stage).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def run(params_path: str, train_dir: str, sweep_dir: str, refstats: str, out: str,
        study_dir: str = "metrics/collapse") -> dict:
    from biggan.config import load_params
    from biggan.report import claims as claims_mod
    from biggan.report import figures
    from biggan.report.collapse_study import study_table
    from biggan.report.collect import collect, collect_study, real_scores
    from biggan.report.plot_data import write_plot_data
    from biggan.report.render import write_tables, write_text
    from biggan.report.tables import table1, table2, table3
    from biggan.files import write_json

    params = load_params(params_path)
    groups = collect(params, Path(train_dir), Path(sweep_dir))
    study = collect_study(params, Path(study_dir))
    real, real_src = {}, {}
    for ds in sorted({runs[0].spec.dataset_name for runs in groups.values()}):
        real[ds], real_src[ds] = real_scores(Path(refstats), ds)
    tables = [table1(groups), table2(groups, real), table3(groups, real), study_table(study)]
    out_dir = Path(out)
    figures.truncation_curves(groups, out_dir / "truncation_curves.png")
    figures.sigma0_figure({**groups, **study}, out_dir / "sigma0.png", variant=next(iter(study), None))
    figures.collapse_figure(study, out_dir / "collapse_study.png")     # empty axes without a study: DVC's out
    paths = write_plot_data(groups, study, out_dir / "plots")
    found = claims_mod.claims(groups, study)
    paths["claims.md"] = write_text(out_dir / "claims.md", claims_mod.markdown(found))
    paths["claims.json"] = write_json(out_dir / "claims.json", {"claims": found})
    paths.update(write_tables(tables, out_dir, {"real_sources": {k: str(v) for k, v in real_src.items()},
                                                "params": str(params_path)}))
    verdicts = [c["verdict"] for c in found]
    headline = {"reproduced": verdicts.count("reproduced"), "not_reproduced": verdicts.count("not reproduced"),
                "inconclusive": verdicts.count("inconclusive")}
    paths["metrics.json"] = write_json(out_dir / "metrics.json", headline)
    for t in tables:
        print(f"{t.title}: {len(t.rows)} rows -> {paths[t.name + '.md']}")
    for c in found:
        print(f"claim {c['id']}: {c['verdict']} ({c['measured']})")
    return paths


def main(argv: list[str] | None = None) -> int:
    from biggan.config import ConfigError
    from biggan.report.collect import MissingRunOutput

    p = argparse.ArgumentParser(prog="python -m stages.tables", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--train-metrics", default="metrics/train")
    p.add_argument("--study-metrics", default="metrics/collapse")
    p.add_argument("--sweep-metrics", default="metrics/sweep")
    p.add_argument("--refstats", default="data/refstats")
    p.add_argument("--out", default="results")
    a = p.parse_args(argv)
    try:
        run(a.params, a.train_metrics, a.sweep_metrics, a.refstats, a.out, a.study_metrics)
    except (ConfigError, MissingRunOutput) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
