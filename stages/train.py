"""DVC stage: train every run of params.yaml on Ray Train, tracked in MLflow.

    python -m stages.train --params params.yaml --all          (every variant and collapse_study: entry)
    python -m stages.train --params params.yaml --variant NAME [--seed N ...]
    python -m stages.train --params params.yaml --study        (every collapse_study: entry)
        [--models models] [--metrics-dir metrics/train] [--study-metrics-dir metrics/collapse]
        [--scores metrics/scores] [--shards data/shards] [--storage checkpoints/train] [--jobs N] [--no-tracking]

The runs (every seed of every selected variant: its `seeds`, else the top-level `seeds`)
share one pool on one Ray instance (RAY_ADDRESS's cluster, else a local one): one Ray Train
run each, at most --jobs at a time (default: one per CPU plus one), the others waiting for a
free slot, longest first; `launcher: local` trains them one after the other in this process.
`--all` is the default pipeline's one train stage: Ray's start-up is paid once, both cores stay
busy to the end, and no stage waits for its slowest seed while a core idles.

Inputs: <shards>/<dataset>/train (shard stage); with train.evaluate also the feature_net
and ref_stats stages' outputs. Outputs, per seed N of variant V (biggan.train.outputs):
    <models>/V/sN/G_ema.pt, model.json
    <metrics-dir>/V/sN.json (the run's whole summary), sN.losses.csv, sN.sigma0.csv, sN.evals.csv
and, written last, <scores>/train/V.json: the small numeric summary DVC shows as metrics
(means over the seeds). A collapse_study: configuration C writes <models>/collapse/C/,
<study-metrics-dir>/C/ and <scores>/collapse/C.json instead. Checkpoints live under
<storage>/<name>-s<seed>-<hash>/: re-running after a kill resumes there, and a run completed
with the same code and inputs is reused, not retrained (biggan.train.reuse). With params
`storage.root` (s3://bucket/prefix, or a path every node mounts) Ray Train's checkpoints go to
<root>/checkpoints/train/ instead and the workers read the runs' inputs from copies under
<root>/inputs/ (biggan.storage): the store is checked before any work, and the tracking store
must then be an MLflow server.

Exit status (the outputs of the runs that finished are written in every case):
    0  done (a collapsed run is a result)
    1  a run crashed: an error Ray Train retried max_failures times, or a bug
    2  bad input: bad params, or an input file missing, corrupt or not matching the params
       (found before the runs or by a run's workers, which then stop without retrying; the
       runs that read the same input are not started), or the tracking store, Ray cluster or
       object store unreachable (or its bucket missing, its keys refused)
The last line on stderr then names the run, the file or key, the cause and the fix, e.g.
    error: t1_b16_ch4-s0: training shards of dataset 'digits16': corrupt shard .../shard-000000.tar:
    2544640 bytes, index.json records 5089280; fix: rerun the shard stage: `dvc repro -f shard@digits16`
"""
from __future__ import annotations

import argparse
import os
import sys

from biggan.data.layout import SHARDS, shard_dir


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m stages.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every variant and every collapse_study: configuration")
    which.add_argument("--variant", help="a key of the variants: or collapse_study: section")
    which.add_argument("--study", action="store_true", help="every configuration of collapse_study:")
    p.add_argument("--seed", type=int, action="append", help="train only these seeds (repeatable)")
    p.add_argument("--models", default="models", help="model root (default: models)")
    p.add_argument("--metrics-dir", default="metrics/train", help="per-run histories (default: metrics/train)")
    p.add_argument("--study-metrics-dir", default="metrics/collapse",
                   help="the collapse study's per-run histories (default: metrics/collapse)")
    p.add_argument("--scores", default="metrics/scores", help="DVC metrics files (default: metrics/scores)")
    p.add_argument("--shards", default=SHARDS, help=f"shard root (default: {SHARDS})")
    p.add_argument("--storage", default="checkpoints/train",
                   help="run folders: reuse markers, and Ray's checkpoints unless params storage.root is set "
                        "(default: checkpoints/train)")
    p.add_argument("--jobs", type=int, help="runs trained at once (default: one per CPU of the Ray cluster plus "
                                            "one); the others wait for a free slot, longest first")
    p.add_argument("--no-tracking", action="store_true", help="no MLflow runs")
    return p.parse_args(argv)


def _line(out) -> str:
    s = out.summary
    verdict = (f"{s['outcome']} at {s['collapse_iteration']} ({s['collapse_rule']})" if s["collapse_rule"]
               else f"{s['outcome']} to {s['stable_to']}")
    fid = f"{s['fid_best']:.3f} @ {s['fid_best_iteration']}" if s["fid_best"] is not None else "n/a"
    ips = f"{s['images_per_s']:.1f}" if s["images_per_s"] else "n/a"
    return (f"{out.spec.run_name}: {s['iterations_done']} iterations, {verdict}, FID best {fid}, "
            f"{ips} images/s, {s['timing']['total_s']:.1f} s")


def _outputs(root, args: argparse.Namespace, name: str, study: bool) -> tuple:
    """(models dir, metrics dir, scores file) of a variant or collapse-study configuration."""
    if study:
        return (root / args.models / "collapse" / name, root / args.study_metrics_dir / name,
                root / args.scores / "collapse" / f"{name}.json")
    return root / args.models / name, root / args.metrics_dir / name, root / args.scores / "train" / f"{name}.json"


def one_line(e: BaseException) -> str:
    """An error in one line: Ray's are many (a summary, each rank's traceback); their first and
    last lines say what failed and why."""
    lines = [x.strip() for x in str(e).strip().splitlines() if x.strip()]
    return lines[0] if len(lines) < 2 else f"{lines[0]} ... {lines[-1]}"


def main(argv: list[str] | None = None) -> int:
    from pathlib import Path

    from biggan.config import ConfigError, load_params
    from biggan.data.shard.report import check_num_classes
    from biggan.tracking.mlflow_run import TrackingUnavailable
    from biggan.train.outputs import write_scores, write_stage_outputs
    from biggan.train.errors import InputError, NotStarted
    from biggan.parallel.ray_session import RayConnectionError, release_ray
    from biggan.storage import StorageError
    from biggan.train.run import check_store, default_data, train_seeds

    args = parse_args(argv)
    if args.jobs is not None and args.jobs < 1:
        print(f"error: --jobs {args.jobs}: at least 1 run at a time", file=sys.stderr)
        return 2
    root = Path.cwd()
    try:
        params = load_params(args.params)
        if args.variant is not None:
            names = [args.variant]
        else:
            names = (list(params.variants) if args.all else []) + list(params.collapse_study)
        if not names:
            raise ConfigError(args.params, ["collapse_study: is empty; --study has nothing to train"])
        specs = [params.run(v, s) for v in names for s in (args.seed or params.seeds_of(v))]
        store = params.storage.root
        if store:                                # unreachable, no bucket, refused keys: before any work
            check_store(store, specs, tracking=not args.no_tracking, root=root)
        data = {}
        for spec in specs:                       # every input checked before any run starts
            data[spec.run_name] = default_data(spec, root / args.shards)
            check_num_classes(shard_dir(spec.dataset_name, "train", root / args.shards), spec.model.n_classes,
                              f"{'collapse_study' if spec.variant in params.collapse_study else 'variants'}."
                              f"{spec.variant}.model.n_classes", args.params)
        stage = os.environ.get("DVC_STAGE") or "train"
        outcomes = train_seeds(specs, root=root, storage=root / args.storage,
                               data=lambda spec: data[spec.run_name],
                               tracking=not args.no_tracking, stage=stage, jobs=args.jobs, store=store)
        release_ray()                            # no worker log Ray forwards comes after the lines below
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    except (ConfigError, FileNotFoundError, TrackingUnavailable, RayConnectionError, StorageError, InputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    failed = [(spec, o) for spec, o in zip(specs, outcomes) if isinstance(o, BaseException)]
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    unavailable = [o for _, o in failed if isinstance(o, (InputError, FileNotFoundError, TrackingUnavailable,
                                                          RayConnectionError))]
    where = {v: _outputs(root, args, v, v in params.collapse_study) for v in names}
    for out in done:
        models, metrics, _ = where[out.spec.variant]
        write_stage_outputs(out, models / f"s{out.spec.seed}", metrics, f"s{out.spec.seed}")
        print(_line(out))
    # crashes first, the input errors that explain them last: the last line names a bad input and its fix
    for spec, e in sorted(failed, key=lambda f: (isinstance(f[1], InputError), not isinstance(f[1], NotStarted))):
        what = "" if isinstance(e, InputError) else f"{type(e).__name__}: "
        print(f"error: {spec.run_name}: {what}{one_line(e)}", file=sys.stderr)
    if failed:
        return 2 if len(unavailable) == len(failed) else 1
    for v in names:
        path = where[v][2]
        write_scores(path, [o.summary for o in done if o.spec.variant == v])
        print(f"{v}: {sum(o.spec.variant == v for o in done)} seed(s) trained; wrote {path}")
    if args.all:        # dvc.yaml declares these folders whether or not collapse_study: has entries
        for d in (args.models, args.metrics_dir, args.study_metrics_dir, f"{args.scores}/train",
                  f"{args.scores}/collapse"):
            (root / d).mkdir(parents=True, exist_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
