"""DVC stage: train one (variant, seed) of params.yaml on Ray Train, tracked in MLflow.

    python -m stages.train --params params.yaml --variant NAME --seed N
        [--out models/NAME/sN] [--metrics-dir metrics/train] [--shards data/shards]
        [--storage checkpoints/train] [--no-tracking]

Inputs: <shards>/<dataset>/train (shard stage); with train.evaluate also the feature_net
and ref_stats stages' outputs (eval.digits_net.out_dir / eval.inception_weights,
eval.refstats_dir/<dataset>). Outputs (biggan.train.outputs):
    <out>/G_ema.pt, <out>/model.json
    <metrics-dir>/<variant>-s<seed>.json, .losses.csv, .sigma0.csv, .evals.csv
The metrics JSON is written last. Checkpoints live under <storage>/<variant>-s<seed>-<hash>/:
re-running after a kill resumes there. Relative paths resolve against the working directory
(DVC runs stages from the repo root). Exit status: 0 done (a collapsed run is a result, see
the JSON), 2 bad params, missing inputs, or tracking store / Ray cluster unreachable.
"""
from __future__ import annotations

import argparse
import os
import sys


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m stages.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--variant", required=True, help="a key of the variants: section")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", help="model folder (default: models/VARIANT/sSEED)")
    p.add_argument("--metrics-dir", default="metrics/train", help="metrics and plot data (default: metrics/train)")
    p.add_argument("--shards", default="data/shards", help="shard root (default: data/shards)")
    p.add_argument("--storage", default="checkpoints/train", help="checkpoint root (default: checkpoints/train)")
    p.add_argument("--no-tracking", action="store_true", help="no MLflow run")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from pathlib import Path

    from biggan.config import ConfigError, load_params
    from biggan.tracking.mlflow_run import TrackingUnavailable
    from biggan.train.ray_trainer import RayConnectionError
    from biggan.train.run import default_data, train
    from biggan.train.outputs import write_stage_outputs

    args = parse_args(argv)
    root = Path.cwd()
    try:
        spec = load_params(args.params).run(args.variant, args.seed)
        data = default_data(spec, root / args.shards)
        stage = os.environ.get("DVC_STAGE") or f"train {args.variant} s{args.seed}"
        out = train(spec, root=root, storage=root / args.storage, data=data, tracking=not args.no_tracking,
                    stage=stage)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    except (ConfigError, FileNotFoundError, TrackingUnavailable, RayConnectionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    model_dir = root / (args.out or f"models/{args.variant}/s{args.seed}")
    paths = write_stage_outputs(out, model_dir, root / args.metrics_dir)
    s = out.summary
    verdict = (f"collapsed at {s['collapse_iteration']} ({s['collapse_rule']})" if s["collapsed"]
               else f"stable to {s['stable_to']}")
    fid = f"{s['fid_best']:.3f} @ {s['fid_best_iteration']}" if s["fid_best"] is not None else "n/a"
    print(f"{spec.run_name}: {s['iterations_done']} iterations, {verdict}, FID best {fid}, "
          f"{s['images_per_s']:.1f} images/s, {s['timing']['total_s']:.1f} s; wrote {paths['metrics']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
