"""DVC stage: truncation sweep of every trained seed of every variant -> Table 2's four entries.

    python -m stages.sweep --params params.yaml (--all | --variant NAME ...) [--seed N ...]
        [--models models] [--out metrics/sweep] [--scores metrics/scores]
        [--refstats <eval.refstats_dir>] [--device cpu] [--threads T] [--jobs J] [--no-progress]

One stage for all variants (`--all`): every (variant, seed) sweep is one task of one pool of
single-threaded processes (at most --jobs, default the number of cores), largest models first.
A pool process imports torch and MLflow once for all its sweeps; one stage per variant paid
that, and a stage process, 11 times for ~5 s of sweeping each (measured: 211 s for the 11
sweep stages of the default on an AMD EPYC). A sweep is seconds of work, so rerunning every
variant's sweep when one model changes costs less than the stages did.

Inputs: the train stage's <model>/G_ema.pt + model.json; the ref_stats stage's
<refstats>/<dataset>/train_stats.npz (FID and precision/recall reference) and metrics.json
(val_is_mean: the IS of the real validation images); the feature network of params' eval
section (eval.feature_net: eval.digits_net.out_dir/digits_net.pt or eval.inception_weights).
Settings: params' `sweep:` section (untruncated, thresholds, num_samples, bn_stats,
standing_passes, seed); samples are generated in batches of eval.batch_size; each standing-
statistics pass is one batch of train.batch_size (the batch G's BatchNorm saw in training, as
BigGAN-PyTorch's sampling accumulates them with G's batch size).

Outputs (the JSON last, each file written to a temporary name and renamed), per variant V and seed N:
    <out>/V/sN.csv   one row per point: threshold (empty = untruncated), truncated
                          (True/False), is_mean, is_std, fid, fid_imag, precision, recall, n
    <out>/V/sN.json  variant, seed, dataset, no_trunc, min_fid, valid_is, max_is (each
                          {threshold, fid, is}; threshold null = untruncated), valid_is_real,
                          bn_stats, standing_passes, standing_batch_size (null with running
                          statistics), num_samples, sweep_seed, thresholds, feature_net,
                          pr_features (precision/recall's feature space), model_dir,
                          model_iteration, timing (per point: threshold, generation_s,
                          standing_s, features_s, metrics_s, wall_s), wall_s
and, once all of V's seeds are swept, <scores>/sweep/V.json: the Table 2 numbers as means over
the seeds (the small numeric summary DVC shows as metrics). A failed sweep leaves the others
running and V's scores unwritten. Exit status: 0 done; 2 bad params, unknown variant, or a
missing input (the message names the file and the stage that writes it).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


class StageError(Exception):
    pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m stages.sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every variant of the variants: section")
    which.add_argument("--variant", action="append", help="a key of the variants: section (repeatable)")
    p.add_argument("--seed", type=int, action="append", help="sweep only these seeds (repeatable)")
    p.add_argument("--models", default="models", help="model root (default: models)")
    p.add_argument("--out", default="metrics/sweep", help="output folder (default: metrics/sweep)")
    p.add_argument("--scores", default="metrics/scores", help="DVC metrics folder (default: metrics/scores)")
    p.add_argument("--jobs", type=int, help="sweeps at once (default: the number of cores)")
    p.add_argument("--refstats", help="reference statistics root (default: params eval.refstats_dir)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads per sweep (default 1: much "
                                                           "faster for small models on a loaded machine)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def read_valid_is(metrics_path: Path) -> float | None:
    """val_is_mean of the ref_stats stage's metrics.json (None when the dataset has no val split)."""
    try:
        m = json.loads(metrics_path.read_text())
    except json.JSONDecodeError as e:
        raise StageError(f"{metrics_path}: not valid JSON ({e}); re-run the ref_stats stage") from None
    v = m.get("val_is_mean")
    return None if v is None else float(v)


def run(args: argparse.Namespace) -> Path:
    from tqdm import tqdm

    from biggan.config import load_params
    from biggan.metrics.refstats import STATS_FILE
    from biggan.metrics.scorer import Scorer
    from biggan.sampling import sweep
    from biggan.sampling.load import load_model_dir, train_stage_hint
    from biggan.train.outputs import write_csv, write_json
    from stages.ref_stats import METRICS_FILE

    t_start = time.perf_counter()
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    params = load_params(args.params)
    spec = params.run(args.variant, args.seed)
    cfg, scfg = spec.eval, spec.sweep
    hint = train_stage_hint(args.variant, args.seed)
    model_dir = Path(args.models) / args.variant / f"s{args.seed}"
    ref_dir = Path(args.refstats or cfg.refstats_dir) / spec.dataset_name
    ref_hint = (f"it is written by the ref_stats stage: `python -m stages.ref_stats --params {args.params} "
                f"--dataset {spec.dataset_name}` (or `dvc repro`)")
    for f in (ref_dir / STATS_FILE, ref_dir / METRICS_FILE):
        if not f.is_file():
            raise FileNotFoundError(f"reference statistics not found: {f}; {ref_hint}")
    try:
        G, doc = load_model_dir(model_dir, args.device, hint=hint)
    except (ValueError, RuntimeError) as e:   # bad model.json, or weights of another architecture
        raise StageError(f"cannot load the generator from {model_dir}: {e}") from None
    if doc.get("variant") not in (None, args.variant) or doc.get("seed") not in (None, args.seed):
        print(f"warning: {model_dir / 'model.json'} is variant {doc.get('variant')!r} seed {doc.get('seed')!r}, "
              f"not {args.variant!r} seed {args.seed}", file=sys.stderr)
    try:
        scorer = Scorer.from_config(cfg, ref_dir / STATS_FILE, args.device)
    except ValueError as e:                   # reference statistics of another feature network
        raise StageError(str(e)) from None
    valid_is = read_valid_is(ref_dir / METRICS_FILE)

    out = Path(args.out) / args.variant
    name = f"s{args.seed}"
    (out / f"{name}.json").unlink(missing_ok=True)     # never a stale summary beside a new CSV
    rows = sweep.run_sweep(G, scorer, scfg, batch_size=cfg.batch_size, standing_batch_size=spec.train.batch_size,
                           progress=not args.no_progress, log=tqdm.write)
    write_csv(out / f"{name}.csv", sweep.csv_rows(rows), sweep.CSV_COLUMNS)
    standing = {"standing_passes": None, "standing_batch_size": None}
    if scfg.bn_stats == "standing":
        standing = {"standing_passes": scfg.standing_passes, "standing_batch_size": spec.train.batch_size}
    summary = {"variant": args.variant, "seed": args.seed, "dataset": spec.dataset_name,
               **sweep.summarize(rows, valid_is), "valid_is_real": valid_is,
               "bn_stats": scfg.bn_stats, **standing, "num_samples": scfg.num_samples, "sweep_seed": scfg.seed,
               "thresholds": [r["threshold"] for r in rows], "feature_net": scorer.net.name,
               "pr_features": scorer.pr_space,
               "model_dir": str(model_dir), "model_iteration": doc.get("iteration"),
               "timing": sweep.timings(rows), "wall_s": round(time.perf_counter() - t_start, 3)}
    path = write_json(out / f"{name}.json", summary)
    from biggan.tracking.sweep_log import log_sweep_to_run     # Table 2 on the model's MLflow run
    print(log_sweep_to_run(spec.tracking.uri, Path.cwd(), doc, f"{args.variant}-{name}", summary,
                           sweep.csv_rows(rows), out / f"{name}.csv"))
    for key in sweep.ENTRIES:
        e = summary[key]
        text = "n/a" if e is None else f"t={sweep.label(e['threshold'])}: FID {e['fid']:.3f}, IS {e['is']:.3f}"
        print(f"{args.variant}-{name} {key}: {text}")
    print(f"wrote {out / f'{name}.csv'} and {path} ({summary['wall_s']:.1f} s)")
    return path


def run_seed(args: argparse.Namespace) -> int:
    """One seed's sweep: 0, or 2 with the message on stderr."""
    from biggan.config import ConfigError

    try:
        run(args)
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    except (ConfigError, FileNotFoundError, StageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def write_scores(path: Path, summaries: list[dict]) -> Path:
    """Table 2's numbers of one variant, means over its seeds: FID/IS without truncation, the
    minimum FID and the maximum IS over the sweep (per seed: each seed's summary)."""
    from biggan.train.outputs import write_json

    def mean(key: str, field: str) -> float | None:
        v = [s[key][field] for s in summaries if s.get(key) is not None]
        return round(sum(v) / len(v), 4) if len(v) == len(summaries) else None

    return write_json(path, {"fid_none": mean("no_trunc", "fid"), "is_none": mean("no_trunc", "is"),
                             "fid_min": mean("min_fid", "fid"), "is_max": mean("max_is", "is")})


def sweep_cost(params, variant: str) -> int:
    """A sweep's relative cost before it runs: G's resolution^2 x width (the samples are fixed)."""
    m = params.run(variant, params.seeds_of(variant)[0]).model
    return m.resolution ** 2 * m.ch


def main(argv: list[str] | None = None) -> int:
    import os
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from biggan.config import ConfigError, load_params

    args = parse_args(argv)
    try:
        params = load_params(args.params)
        variants = list(params.variants) if args.all else list(dict.fromkeys(args.variant))   # each once
        tasks = [(v, s) for v in variants for s in (args.seed or params.seeds_of(v))]
        order = sorted(range(len(tasks)), key=lambda i: -sweep_cost(params, tasks[i][0]))  # stable
    except KeyError as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    per_task = [argparse.Namespace(**{**vars(args), "variant": tasks[i][0], "seed": tasks[i][1]}) for i in order]
    jobs = max(1, min(len(tasks), args.jobs or os.cpu_count() or 1))
    if jobs == 1:
        codes = [run_seed(a) for a in per_task]
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            codes = list(pool.map(run_seed, per_task))
    failed = {a.variant for a, c in zip(per_task, codes) if c}
    for v in variants:
        if v in failed:
            continue
        seeds = [s for w, s in tasks if w == v]
        summaries = [json.loads((Path(args.out) / v / f"s{s}.json").read_text()) for s in seeds]
        path = write_scores(Path(args.scores) / "sweep" / f"{v}.json", summaries)
        print(f"{v}: {len(seeds)} sweep(s); wrote {path}")
    return max(codes, default=0)


if __name__ == "__main__":
    sys.exit(main())
