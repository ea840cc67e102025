"""DVC stage: train every seed of one variant of params.yaml on Ray Train, tracked in MLflow.

    python -m stages.train --params params.yaml --variant NAME [--seed N ...]
        [--models models] [--metrics-dir metrics/train] [--scores metrics/scores]
        [--shards data/shards] [--storage checkpoints/train] [--no-tracking]

The seeds (default: the variant's `seeds`, else the top-level `seeds`) train at once: one Ray
Train run each on one Ray instance (RAY_ADDRESS's cluster, else a local one), sharing its CPUs;
`launcher: local` trains them one after the other in this process.

Inputs: <shards>/<dataset>/train (shard stage); with train.evaluate also the feature_net
and ref_stats stages' outputs. Outputs, per seed N (biggan.train.outputs):
    <models>/<variant>/sN/G_ema.pt, model.json
    <metrics-dir>/<variant>/sN.json (the run's whole summary), sN.losses.csv, sN.sigma0.csv, sN.evals.csv
and, written last, <scores>/train-<variant>.json: the small numeric summary DVC shows as
metrics (means over the seeds). Checkpoints live under <storage>/<variant>-s<seed>-<hash>/:
re-running after a kill resumes there. Exit status: 0 done (a collapsed run is a result),
1 a seed failed (the others' outputs are written), 2 bad params, missing inputs, or tracking
store / Ray cluster unreachable.
"""
from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m stages.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--variant", required=True, help="a key of the variants: or collapse_study: section")
    p.add_argument("--seed", type=int, action="append", help="train only these seeds (repeatable)")
    p.add_argument("--models", default="models", help="model root (default: models)")
    p.add_argument("--metrics-dir", default="metrics/train", help="per-run histories (default: metrics/train)")
    p.add_argument("--scores", default="metrics/scores", help="DVC metrics files (default: metrics/scores)")
    p.add_argument("--shards", default="data/shards", help="shard root (default: data/shards)")
    p.add_argument("--storage", default="checkpoints/train", help="checkpoint root (default: checkpoints/train)")
    p.add_argument("--no-tracking", action="store_true", help="no MLflow runs")
    return p.parse_args(argv)


def _line(out) -> str:
    s = out.summary
    verdict = (f"collapsed at {s['collapse_iteration']} ({s['collapse_rule']})" if s["collapsed"]
               else f"stable to {s['stable_to']}")
    fid = f"{s['fid_best']:.3f} @ {s['fid_best_iteration']}" if s["fid_best"] is not None else "n/a"
    ips = f"{s['images_per_s']:.1f}" if s["images_per_s"] else "n/a"
    return (f"{out.spec.run_name}: {s['iterations_done']} iterations, {verdict}, FID best {fid}, "
            f"{ips} images/s, {s['timing']['total_s']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    from pathlib import Path

    from biggan.config import ConfigError, load_params
    from biggan.data.shard.report import check_num_classes
    from biggan.tracking.mlflow_run import TrackingUnavailable
    from biggan.train.outputs import write_scores, write_stage_outputs
    from biggan.train.ray_trainer import RayConnectionError
    from biggan.train.run import default_data, train_seeds

    args = parse_args(argv)
    root = Path.cwd()
    try:
        params = load_params(args.params)
        seeds = args.seed or params.seeds_of(args.variant)
        specs = [params.run(args.variant, s) for s in seeds]
        for spec in specs:                       # every input checked before any run starts
            default_data(spec, root / args.shards)
            check_num_classes(root / args.shards / spec.dataset_name / "train", spec.model.n_classes,
                              f"variants.{spec.variant}.model.n_classes", args.params)
        stage = os.environ.get("DVC_STAGE") or f"train {args.variant}"
        outcomes = train_seeds(specs, root=root, storage=root / args.storage,
                               data=lambda spec: default_data(spec, root / args.shards),
                               tracking=not args.no_tracking, stage=stage)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    except (ConfigError, FileNotFoundError, TrackingUnavailable, RayConnectionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    failed = [(spec, o) for spec, o in zip(specs, outcomes) if isinstance(o, BaseException)]
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    unavailable = [o for _, o in failed if isinstance(o, (FileNotFoundError, TrackingUnavailable,
                                                          RayConnectionError))]
    for out in done:
        write_stage_outputs(out, root / args.models / args.variant / f"s{out.spec.seed}",
                            root / args.metrics_dir / args.variant, f"s{out.spec.seed}")
        print(_line(out))
    for spec, e in failed:
        print(f"error: {spec.run_name}: {type(e).__name__}: {e}", file=sys.stderr)
    if failed:
        return 2 if len(unavailable) == len(failed) else 1
    path = write_scores(root / args.scores / f"train-{args.variant}.json", [o.summary for o in done])
    print(f"{args.variant}: {len(done)} seed(s) trained; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
