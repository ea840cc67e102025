"""The sweep stage's work (`run_all`, documented in stages/sweep.py): one `SweepJob` per (variant,
seed) model, largest models first, run in a process pool on this machine or as Ray tasks on a
cluster (biggan.sampling.executors; a Ray task gets its inputs as URLs on params' storage.root).
Each job returns its rows and summary; this process writes the files and logs them to the
model's MLflow run (biggan.tracking.sweep_log), so every output lands where the stage runs.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm import tqdm

from biggan.sampling.sweep import (CSV_COLUMNS, ENTRIES, csv_rows, label, mean_rows, run_sweep, summarize, timings,
                                   trained)

if TYPE_CHECKING:
    from biggan.config.evaluation import EvalConfig
    from biggan.config.params import RunSpec


class SweepError(Exception):
    """A sweep that cannot run; the message names the file or value and what to do."""


@dataclass(frozen=True)
class SweepJob:
    """The sweep of <models>/<variant>/s<seed>, scored against <refstats>/<dataset>. A Ray task's
    job names its inputs by URL on the storage root (biggan.sampling.executors.for_cluster):
    `params`, `model_dir` and `eval`'s files, fetched to the task's node before they are read."""
    params: str                         # params file: a path, or a URL on the storage root
    variant: str
    seed: int
    models: str | None = "models"       # None when model_dir names the model folder
    refstats: str | None = None         # default: params eval.refstats_dir (or eval's, when given)
    model_dir: str | None = None        # the model folder (path or URL); default <models>/<variant>/s<seed>
    eval: "EvalConfig | None" = None    # replaces params' eval section (its files' copies on the store)
    device: str = "auto"
    threads: int | None = 1             # torch intra-op threads (1: fastest for small models on a busy box)
    progress: bool = False

    @property
    def name(self) -> str:
        return f"{self.variant}-s{self.seed}"


def plan(params_path: str, variants: Sequence[str] | None, seeds: Sequence[int] | None = None,
         **job: object) -> list[SweepJob]:
    """Every (variant, seed) job, largest G first (resolution^2 x width; stable otherwise).
    variants None: all of params' variants; seeds None: each variant's seeds. Raises KeyError
    for an unknown variant, ConfigError for bad params."""
    from biggan.config import load_params

    params = load_params(params_path)
    names = list(params.variants) if variants is None else list(dict.fromkeys(variants))

    def cost(variant: str) -> int:
        m = params.run(variant, params.seeds_of(variant)[0]).model
        return m.resolution ** 2 * m.ch

    jobs = [SweepJob(params_path, v, s, **job) for v in names for s in (seeds or params.seeds_of(v))]
    return sorted(jobs, key=lambda j: -cost(j.variant))


def read_valid_is(metrics_path: Path) -> float | None:
    """val_is_mean of the ref_stats stage's metrics.json (None when the dataset has no val split)."""
    try:
        v = json.loads(metrics_path.read_text()).get("val_is_mean")
    except json.JSONDecodeError as e:
        raise SweepError(f"{metrics_path}: not valid JSON ({e}); re-run the ref_stats stage") from None
    return None if v is None else float(v)


def job_inputs(job: SweepJob) -> tuple["RunSpec", "EvalConfig", Path, Path]:
    """-> (run spec, eval config, model folder, reference statistics folder), each file fetched to
    this node first when the job names it by URL (biggan.storage.local_copy, cached per content)."""
    from biggan import storage
    from biggan.config import load_params
    from biggan.metrics import staged

    spec = load_params(storage.local_copy(job.params)).run(job.variant, job.seed)
    cfg = spec.eval
    if job.eval is not None:
        cfg = staged.local(job.eval, spec.dataset_name)
    model_dir = storage.local_copy(job.model_dir) if job.model_dir else Path(job.models) / job.variant / f"s{job.seed}"
    return spec, cfg, model_dir, Path(job.refstats or cfg.refstats_dir) / spec.dataset_name


def check_inputs(job: SweepJob, dataset: str, model_dir: Path, ref_dir: Path) -> None:
    """Raise FileNotFoundError naming the first missing reference statistics or model file and the
    stage that writes it (checked on this machine before a Ray task's inputs are copied, too)."""
    from biggan.metrics.refstats import METRICS_FILE, STATS_FILE
    from biggan.sampling.load import MODEL_FILE, WEIGHTS_FILE, ModelNotFound, train_stage_hint

    for f in (ref_dir / STATS_FILE, ref_dir / METRICS_FILE):
        if not f.is_file():
            raise FileNotFoundError(f"reference statistics not found: {f}; it is written by the ref_stats stage: "
                                    f"`python -m stages.ref_stats --params {job.params} --dataset "
                                    f"{dataset}` (or `dvc repro`)")
    for f, what in ((model_dir / WEIGHTS_FILE, "generator weights"), (model_dir / MODEL_FILE, "model description")):
        if not f.is_file():      # load_model_dir's message
            raise ModelNotFound(f"{what} not found: {f}; {train_stage_hint(job.variant, job.seed)}")


def sweep_model(job: SweepJob) -> dict:
    """One model's sweep -> {variant, seed, rows (CSV rows), summary (the stage's JSON),
    mlflow_run_id, tracking_uri}. Raises SweepError / FileNotFoundError naming the input."""
    from biggan.metrics.device import resolve_device
    from biggan.metrics.refstats import METRICS_FILE, STATS_FILE
    from biggan.metrics.scorer import Scorer
    from biggan.sampling.load import load_model_dir, train_stage_hint

    t_start = time.perf_counter()
    if job.threads:
        torch.set_num_threads(job.threads)
    device = resolve_device(job.device)
    spec, cfg, model_dir, ref_dir = job_inputs(job)
    scfg = spec.sweep
    check_inputs(job, spec.dataset_name, model_dir, ref_dir)
    try:
        G, doc = load_model_dir(model_dir, device, hint=train_stage_hint(job.variant, job.seed))
    except (ValueError, RuntimeError) as e:   # bad model.json, or weights of another architecture
        raise SweepError(f"cannot load the generator from {model_dir}: {e}") from None
    if doc.get("variant") not in (None, job.variant) or doc.get("seed") not in (None, job.seed):
        print(f"warning: {model_dir / 'model.json'} is variant {doc.get('variant')!r} seed {doc.get('seed')!r}, "
              f"not {job.variant!r} seed {job.seed}", file=sys.stderr)
    try:
        scorer = Scorer.from_config(cfg, ref_dir / STATS_FILE, device)
    except ValueError as e:                   # reference statistics of another feature network
        raise SweepError(str(e)) from None
    def sweep(seed: int) -> list[dict]:
        return run_sweep(G, scorer, scfg, batch_size=cfg.batch_size, standing_batch_size=spec.train.batch_size,
                         progress=job.progress, log=tqdm.write, seed=seed)

    valid_is = read_valid_is(ref_dir / METRICS_FILE)
    rows = sweep(scfg.seeds[0])
    is_trained = trained(rows, valid_is, scfg.trained_is_fraction)
    seeds = scfg.seeds if is_trained else scfg.seeds[:1]
    for s in seeds[1:]:
        rows += sweep(s)
    standing = {"standing_passes": None, "standing_batch_size": None}
    if scfg.bn_stats == "standing":
        standing = {"standing_passes": scfg.standing_passes, "standing_batch_size": spec.train.batch_size}
    summary = {"variant": job.variant, "seed": job.seed, "dataset": spec.dataset_name,
               **summarize(mean_rows(rows), valid_is), "valid_is_real": valid_is,
               "trained": is_trained, "trained_is_fraction": scfg.trained_is_fraction,
               "bn_stats": scfg.bn_stats, **standing, "num_samples": scfg.num_samples, "sweep_seeds": list(seeds),
               "thresholds": [r["threshold"] for r in mean_rows(rows)], "feature_net": scorer.net.name,
               "pr_features": scorer.pr_space, "model_dir": str(model_dir), "model_iteration": doc.get("iteration"),
               "timing": timings(rows), "wall_s": round(time.perf_counter() - t_start, 3)}
    return {"variant": job.variant, "seed": job.seed, "rows": csv_rows(rows), "summary": summary,
            "mlflow_run_id": doc.get("mlflow_run_id"), "tracking_uri": spec.tracking.uri}


def run_job(job: SweepJob, credentials=None) -> dict:
    """sweep_model, with a bad input returned as {"error": message} (a pool or Ray task's result).
    `credentials`: a Ray task's store keys (biggan.parallel.ray_session.Credentials)."""
    from biggan.config import ConfigError

    if credentials is not None:
        credentials.apply()
    try:
        return sweep_model(job)
    except (KeyError, ConfigError, FileNotFoundError, SweepError) as e:
        return {"error": str(e.args[0] if isinstance(e, KeyError) else e)}


def write_sweep(out: Path, result: dict) -> tuple[Path, Path]:
    """<out>/V/sN.csv, then <out>/V/sN.json (last: its presence means the sweep is complete)."""
    from biggan.files import write_csv, write_json

    folder = Path(out) / result["variant"]
    name = f"s{result['seed']}"
    csv_path = write_csv(folder / f"{name}.csv", result["rows"], CSV_COLUMNS)
    return csv_path, write_json(folder / f"{name}.json", result["summary"])


def write_scores(path: Path, summaries: list[dict]) -> Path:
    """Table 2's numbers of one variant, means over its seeds: FID/IS without truncation, the
    minimum FID and the maximum IS over the sweep (per seed: each seed's summary)."""
    from biggan.files import write_json

    def mean(key: str, field: str) -> float | None:
        v = [s[key][field] for s in summaries if s.get(key) is not None]
        return round(sum(v) / len(v), 4) if len(v) == len(summaries) else None

    return write_json(path, {"fid_none": mean("no_trunc", "fid"), "is_none": mean("no_trunc", "is"),
                             "fid_min": mean("min_fid", "fid"), "is_max": mean("max_is", "is")})


def run_all(params_path: str, variants: Sequence[str] | None, seeds: Sequence[int] | None = None, *,
            out: str | Path = "metrics/sweep", scores: str | Path = "metrics/scores", executor: str = "auto",
            parallel: int | None = None, **job: object) -> int:
    """The sweep stage: plan the jobs (`job`: SweepJob's fields), run them, write each model's files
    as it finishes and, per variant whose seeds all succeeded, <scores>/sweep/V.json.
    -> 0, or 2 for bad params, an unknown variant or a job's bad input (named on stderr; the
    other jobs still run)."""
    from biggan.config import ConfigError
    from biggan.sampling.executors import choose_executor, cluster_store, pool_results, ray_results
    from biggan.tracking.sweep_log import log_sweep_to_run

    try:
        jobs = plan(params_path, variants, seeds, **job)
        kind, gpus = choose_executor(executor, jobs[0].device if jobs else "cpu")
        store = cluster_store(params_path) if kind == "ray" else None
    except (KeyError, ConfigError, SweepError) as e:
        print(f"error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    out, scores = Path(out), Path(scores)
    for j in jobs:                            # never a stale summary beside a new CSV
        (out / j.variant / f"s{j.seed}.json").unlink(missing_ok=True)
    print(f"sweep: {len(jobs)} model(s) " + (f"as Ray tasks ({'1 GPU' if gpus else 'CPU only'} each)"
                                            if kind == "ray" else "in a process pool on this machine"))
    failed, summaries = set(), {}
    try:
        for job, result in (ray_results(jobs, gpus, store) if kind == "ray" else pool_results(jobs, parallel)):
            if "error" in result:
                print(f"error: {result['error']}", file=sys.stderr)
                failed.add(job.variant)
                continue
            csv_path, json_path = write_sweep(out, result)
            summary = summaries.setdefault(job.variant, {})[job.seed] = result["summary"]
            print(log_sweep_to_run(result["tracking_uri"], Path.cwd(), {"mlflow_run_id": result["mlflow_run_id"]},
                                   job.name, summary, result["rows"], csv_path))
            for key in ENTRIES:
                e = summary[key]
                text = "n/a" if e is None else f"t={label(e['threshold'])}: FID {e['fid']:.3f}, IS {e['is']:.3f}"
                print(f"{job.name} {key}: {text}")
            print(f"wrote {csv_path} and {json_path} ({summary['wall_s']:.1f} s)", flush=True)
    finally:
        if kind == "ray":
            from biggan.parallel.ray_session import release_ray
            release_ray()
    for v in dict.fromkeys(j.variant for j in jobs):
        if v not in failed:
            seeds = [j.seed for j in jobs if j.variant == v]
            path = write_scores(scores / "sweep" / f"{v}.json", [summaries[v][s] for s in seeds])
            print(f"{v}: {len(seeds)} sweep(s); wrote {path}")
    return 2 if failed else 0
