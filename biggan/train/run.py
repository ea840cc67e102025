"""One training run end to end, as the train stage calls it.

    name     <variant>-s<seed>-<12 hex of the resolved config> under `storage`: re-running
             the same configuration after a kill resumes from its newest checkpoint; any
             change of model/train/dataset/eval settings starts a fresh run. Operational
             keys (OPERATIONAL) are not hashed, so e.g. raising max_failures still resumes.
             A run that completed (marker file DONE) is handed out again when called with the
             same code and inputs (biggan.train.reuse), else wiped and retrained.
    track    fail fast if the tracking store is unusable; continue the run's MLflow run
             (its id is kept in <run dir>/mlflow_run.json) or create one.
    launch   Ray Train (`train.launcher: ray`) or in-process (`local`, one worker).
    select   the G_ema to hand out: best FID before collapse, else the last healthy
             checkpoint, else the final one (biggan.train.history.Selection).
    finish   summary metrics, history CSVs and the generator model to MLflow; the outcome and
             the DONE marker kept for reuse.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from biggan.config.params import RunSpec
from biggan.data.layout import SHARDS, shard_dir
from biggan.train.factories import EvalScorer, ShardStream
from biggan.train.job import DataFactory, Scorer, TrainJob, Tracking
from biggan.train import reuse
from biggan.train.errors import InputError, NotStarted, classes_key, model_key
from biggan.train.outputs import write_history
from biggan.train.collapse import Collapse, outcome
from biggan.train.history import History, Selection

OPERATIONAL = ("max_failures", "checkpoint_keep", "cpus_per_worker", "threads_per_worker")


def config_hash(spec: RunSpec) -> str:
    doc = {"variant": spec.variant, "seed": spec.seed, "dataset_name": spec.dataset_name,
           "dataset": spec.dataset.model_dump(mode="json"), "model": spec.model.model_dump(mode="json"),
           "train": spec.train.model_dump(mode="json", exclude=set(OPERATIONAL)),
           "eval": spec.eval.model_dump(mode="json") if spec.train.evaluate else None}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]


def run_name(spec: RunSpec) -> str:
    return f"{spec.run_name}-{config_hash(spec)}"


@dataclass
class TrainOutcome:
    spec: RunSpec
    run_name: str
    run_dir: Path
    summary: dict                     # the metrics JSON
    g_ema_state: dict                 # the selected G_ema weights
    history: History
    mlflow_run_id: str | None = None
    timing: dict = field(default_factory=dict)

    def model_doc(self) -> dict:
        s = self.summary
        return {"model": self.spec.model.model_dump(mode="json"), "variant": self.spec.variant,
                "seed": self.spec.seed, "dataset": self.spec.dataset_name, "iteration": s["model_iteration"],
                "selection": s["model_selection"], "run_name": self.run_name, "mlflow_run_id": self.mlflow_run_id}

    def write_history(self, metrics_dir: Path) -> dict[str, Path]:
        """The run's loss, sigma0 and eval CSVs under `metrics_dir` (biggan.train.outputs)."""
        return write_history(metrics_dir, self.spec.run_name, self.history)


def default_data(spec: RunSpec, shards: Path) -> ShardStream:
    """<shards>/<dataset>/train through the streaming loader."""
    split = shard_dir(spec.dataset_name, "train", Path(shards).resolve())
    if not split.is_dir():
        raise FileNotFoundError(f"training shards of dataset {spec.dataset_name!r} not found: {split}; they "
                                f"are written by `python -m stages.shard --params params.yaml --dataset "
                                f"{spec.dataset_name}` (or `dvc repro`)")
    return ShardStream(str(split), spec.train.micro_batch, spec.dataset_name, spec.model.n_classes, spec.train.loader)


def default_scorer(spec: RunSpec, root: Path) -> EvalScorer | None:
    if not spec.train.evaluate:
        return None
    scorer = EvalScorer.under(root, spec.eval, spec.dataset_name)
    bad = scorer.missing()
    if bad is not None:
        raise bad
    return scorer


def train(spec: RunSpec, *, root: str | Path = ".", storage: str | Path | None = None,
          data: DataFactory | None = None, scorer: Callable[[], Scorer] | None | str = "default",
          tracking: bool = True, stage: str | None = None, log: Callable[[str], None] = print,
          share: int = 1, store: str | None = None) -> TrainOutcome:
    """Train (or resume) one (variant, seed); see the module docstring. `share`: runs launched
    together with this one on the same Ray instance (they split its CPUs). `store`: the storage
    root (biggan.storage) the workers read their inputs from and Ray Train keeps checkpoints
    in, None for this machine's folders."""
    from biggan.tracking import mlflow_run as mr
    from biggan.tracking.training import finish_training_run, open_training_run

    t_start = time.perf_counter()
    root = Path(root).resolve()
    cfg = spec.train
    data = data or default_data(spec, root / SHARDS)
    scorer = default_scorer(spec, root) if scorer == "default" else scorer
    uri = None
    if tracking:
        uri = mr.resolve_uri(spec.tracking.uri, root)
        mr.check_reachable(uri)
    name = run_name(spec)
    run_dir = Path(storage or root / "checkpoints" / "train").resolve() / name
    fingerprint = reuse.fingerprint(reuse.input_files(data, scorer), root)
    if (run_dir / reuse.DONE).exists():
        kept = reuse.load(run_dir, fingerprint, uri)
        if kept is not None:
            log(f"{name}: completed before with this configuration, code and inputs; reused")
            history = History()
            history.load_state_dict(kept["history"])
            return TrainOutcome(spec, name, run_dir, kept["summary"], kept["g_ema_state"], history,
                                kept["mlflow_run_id"], kept["timing"])
        log(f"{name}: completed before with other code or inputs; starting afresh")
        shutil.rmtree(run_dir)
        if store:
            from biggan import storage
            storage.delete_dir(storage.join(store, storage.CHECKPOINTS, name))
    run_dir.mkdir(parents=True, exist_ok=True)

    with ThreadPoolExecutor(1) as pool:           # MLflow's import and run set-up overlap Ray's start
        shards = getattr(data, "shard_dir", None)        # the run's dataset in MLflow
        opening = (pool.submit(open_training_run, spec, root, uri, name, run_dir, stage,
                               Path(shards) if shards else None) if tracking else None)
        if cfg.launcher == "ray":
            from biggan.parallel.ray_session import ensure_ray
            ensure_ray()
        run_id = opening.result() if opening else None
    job = worker_job(spec, data, scorer, Tracking(uri, run_id) if run_id else None, store)
    t_fit = time.perf_counter()
    try:
        if cfg.launcher == "ray":
            from biggan.train.ray_trainer import fit
            state, loop_summary = fit(job, run_dir.parent, name, share=share, store=store)
        else:
            state, loop_summary = _fit_local(job, run_dir)
    except BaseException:
        if run_id:
            problem = mr.abort_run(uri, run_id)        # never replaces the error being raised
            if problem:
                log(f"warning: {problem}")
        raise
    t_done = time.perf_counter()
    outcome = _outcome(spec, name, run_dir, state, run_id)
    if run_id:
        finish_training_run(outcome, uri, loop_summary)
    outcome.timing = {"setup_s": t_fit - t_start, "fit_s": t_done - t_fit,
                      "finish_s": time.perf_counter() - t_done, "total_s": time.perf_counter() - t_start}
    outcome.summary["timing"] = {k: round(v, 3) for k, v in outcome.timing.items()}
    reuse.save(run_dir, fingerprint, iteration=state["iteration"], summary=outcome.summary,
               g_ema_state=outcome.g_ema_state, history=outcome.history.state_dict(),
               mlflow_run_id=run_id, timing=outcome.timing)
    return outcome


def worker_job(spec: RunSpec, data: DataFactory, scorer: Callable[[], Scorer] | None, tracking: Tracking | None,
               store: str | None = None) -> TrainJob:
    """The job every worker receives. With a storage root its inputs are the store's copies, by URL:
    no worker reads a path of the launching machine."""
    if store:
        data = data.on_store(store) if hasattr(data, "on_store") else data
        scorer = scorer.on_store(store) if hasattr(scorer, "on_store") else scorer
    return TrainJob(spec.variant, spec.seed, spec.model, spec.train, data, scorer, spec.eval.batch_size,
                    tracking, spec.train.threads_per_worker)


def check_store(store: str, specs: list[RunSpec], tracking: bool, root: Path) -> None:
    """A storage root (params `storage.root`) must be usable and the runs' tracking store a server
    every node reaches: a sqlite file of this machine is not."""
    from biggan import storage
    from biggan.tracking.mlflow_run import resolve_uri

    storage.check(store)
    for uri in {resolve_uri(s.tracking.uri, root) for s in specs} if tracking else ():
        if uri.startswith(("sqlite:", "file:")) or "://" not in uri:
            raise storage.StorageError(
                f"storage.root is {store}, so runs may train on other nodes, but the tracking store {uri} is "
                f"a file of this machine; set tracking.uri (or MLFLOW_TRACKING_URI) to an MLflow server, "
                f"e.g. http://mlflow.example:5000, or run with --no-tracking")


def train_seeds(specs: list[RunSpec], *, root: str | Path = ".", storage: str | Path | None = None,
                data: Callable[[RunSpec], DataFactory] | None = None, tracking: bool = True,
                stage: str | None = None, log: Callable[[str], None] = print,
                jobs: int | None = None, store: str | None = None) -> list[TrainOutcome | BaseException]:
    """Train the runs of one stage: concurrent Ray Train runs on one Ray instance (each `fit()`
    from its own driver thread, at most `jobs` at once, the CPUs split between them; the
    others wait for a free slot), or one after the other in-process (`launcher: local`).
    -> one outcome, or the exception that ended it, per spec. A run that finds an input it cannot
    use (InputError) fails without retries; the runs not yet started that read the same input
    are then not started (NotStarted), the others are, and finished runs stay finished.

    Default `jobs`: one run per CPU plus one. Measured on 2 cores (single-threaded runs): 3
    seeds at once took 47 s where 2 + 1 took 50 s (the third alone leaves a core idle; three
    on two cores cost ~16 % per step); the 10 runs of the collapse study took 471 s all at
    once and 247 s one per CPU (Intel Xeon). Every run holds a Ray Train controller, a synchronisation actor and its workers,
    ~1.2 GB together. Runs start longest first (`expected_cost`), so that no long run starts
    last and trains alone."""
    launcher = {s.train.launcher for s in specs}
    if len(launcher) != 1:
        raise ValueError(f"the runs of one stage share a launcher; got {sorted(launcher)}")
    slots = 1
    if launcher == {"ray"}:
        from biggan.parallel.ray_session import cluster_resources, ensure_ray
        ensure_ray()                             # once, before the threads
        slots = concurrent_runs(specs, cluster_resources(), jobs)

    unusable: list[tuple[str, InputError]] = []      # (run, its error), appended from the threads

    def one(spec: RunSpec) -> TrainOutcome | BaseException:
        try:
            spec_data = data(spec) if data else default_data(spec, Path(root).resolve() / SHARDS)
            reads = shared_inputs(spec, spec_data, root)
            for failed_run, bad in list(unusable):
                if bad.shared in reads:          # the same shards, statistics or model: it would fail alike
                    skipped = NotStarted.because(failed_run, bad)
                    log(f"{spec.run_name}: {skipped}")
                    return skipped
            return train(spec, root=root, storage=storage, data=spec_data, tracking=tracking, stage=stage,
                         log=log, share=slots, store=store)
        except InputError as e:                  # no retry helps; the runs that read it are left out
            unusable.append((spec.run_name, e))
            log(f"{spec.run_name}: unusable input: {e}")
            return e
        except Exception as e:                   # the other runs go on; the caller reports it
            log(f"{spec.run_name}: failed: {type(e).__name__}: {e}")
            return e

    if slots == 1:                               # in this thread: Ctrl-C reaches the run
        return [one(s) for s in specs]
    order = sorted(range(len(specs)), key=lambda i: -expected_cost(specs[i]))    # stable: ties keep params order
    with ThreadPoolExecutor(slots, thread_name_prefix="run") as pool:
        futures = {i: pool.submit(one, specs[i]) for i in order}
        return [futures[i].result() for i in range(len(specs))]


def shared_inputs(spec: RunSpec, data: DataFactory, root: str | Path) -> set[str]:
    """What a run reads that other runs may share, as InputError.shared names it: its shard
    folder (alone and with its model's class count), its evaluation inputs, its model config."""
    keys = {model_key(spec.model.model_dump(mode="json"))}
    shard_dir = getattr(data, "shard_dir", None)
    if shard_dir:
        keys |= {str(shard_dir), classes_key(str(shard_dir), spec.model.n_classes)}
    if spec.train.evaluate:
        keys |= {str(p) for p in EvalScorer.under(Path(root).resolve(), spec.eval, spec.dataset_name).inputs()}
    return keys


def concurrent_runs(specs: list[RunSpec], resources: dict[str, float], jobs: int | None = None) -> int:
    """How many of a stage's runs train at once (see train_seeds): on GPUs the cluster's GPUs over
    a run's GPUs (one per worker), so no run waits half-placed, `jobs` at most; on CPUs `jobs`,
    else one per CPU plus one."""
    if any(s.train.use_gpu for s in specs):
        gpus = int(resources.get("GPU", 0))
        per_run = max(s.train.num_workers for s in specs if s.train.use_gpu)
        if gpus < per_run:
            raise InputError(f"train.use_gpu: a run needs {per_run} GPU(s) (one per worker) but the Ray cluster "
                             f"has {gpus}", "join a cluster with GPUs (RAY_ADDRESS) or set train.use_gpu: false")
        fits = min(jobs, gpus // per_run) if jobs else gpus // per_run
    else:
        fits = jobs or max(1, int(resources.get("CPU", 1))) + 1
    return max(1, min(len(specs), fits))


def expected_cost(spec: RunSpec) -> float:
    """A run's relative training time before it starts, for longest-first scheduling. Per
    iteration num_d_steps + 1 passes, each a fixed dispatch cost plus a cost per image that grows
    with its pixels and the width: fitted on single-threaded runs of the default (AMD EPYC), a
    pass at 16 px and ch 4 takes ~16 ms plus ~1 ms per image of the worker's batch; R1's double
    backward about x1.5; BigGAN-deep's two bottleneck blocks per resolution about x1.8 (ch 4:
    82 ms per iteration against 56 ms for BigGAN at ch 6). Runs that stop at a collapse end
    sooner; that cannot be known ahead."""
    t, m = spec.train, spec.model
    per_image = (m.resolution / 16) ** 2 * m.ch / 4 / 16            # in units of the fixed cost
    per_pass = 1 + t.batch_size / t.num_workers * per_image
    return (t.iterations * (t.num_d_steps + 1) * per_pass * (1.5 if t.r1_gamma > 0 else 1.0)
            * (1.8 if m.arch == "biggan_deep" else 1.0))


def _fit_local(job: TrainJob, run_dir: Path) -> tuple[dict, dict]:
    from biggan.train.checkpoint import read_state
    from biggan.train.loop_env import LocalEnv
    from biggan.train.loop import run_loop

    cfg = job.train
    env = LocalEnv(run_dir, cfg.checkpoint_keep, "cuda" if cfg.use_gpu else "cpu")
    threads = job.threads or cfg.worker_threads(cfg.cpus_per_worker or os.cpu_count() or 1)
    summary = run_loop(replace(job, threads=threads), env)
    return read_state(env.store.latest()), summary


def _outcome(spec: RunSpec, name: str, run_dir: Path, state: dict, run_id: str | None) -> TrainOutcome:
    from biggan.models import summarize

    cfg = spec.train
    history, selection = History(), Selection()
    history.load_state_dict(state["history"])
    selection.load_state_dict(state["selection"])
    collapse = state["monitor"]["collapse"]
    ended = outcome(Collapse(**collapse) if collapse else None, selection.fid_best, cfg.collapse)
    final = state.get("G_ema", state["G"])
    how, model_iteration, g_ema = selection.choose(collapse is not None, state["iteration"], final)
    counters = state["counters"]
    size = summarize(spec.model)
    done = state["iteration"]
    summary = {
        "variant": spec.variant, "seed": spec.seed, "dataset": spec.dataset_name, "run_name": name,
        "mlflow_run_id": run_id, "launcher": cfg.launcher, "num_workers": cfg.num_workers,
        "iterations": cfg.iterations, "iterations_done": done,
        # outcome: collapse | failed to train | dead D | non-finite | stable (biggan.train.collapse);
        # collapse_*: the rule that stopped the run, whichever outcome it gave
        "outcome": ended, "collapsed": ended == "collapse",
        "collapse_kind": (collapse.get("kind") or None) if collapse else None,
        "collapse_iteration": collapse["iteration"] if collapse else None,
        "collapse_detected_at": collapse["detected_at"] if collapse else None,
        "collapse_rule": collapse["rule"] if collapse else None,
        "collapse_detail": collapse["detail"] if collapse else None,
        "stable_to": None if collapse else done,
        "itr": collapse["iteration"] if collapse else done,
        **selection.scores(), "model_selection": how, "model_iteration": model_iteration,
        "params_m": round(size.paper_params_m, 4), "g_params": size.g_params, "d_params": size.d_params,
        "images_per_s": counters["images"] / counters["step_time_s"] if counters["step_time_s"] > 0 else None,
        "train_time_s": round(counters["step_time_s"], 3), "loop_wall_s": round(counters["wall_s"], 3),
        "resumes": state["resumes"], "mlflow_model_uri": None,
    }
    return TrainOutcome(spec, name, run_dir, summary, g_ema, history, run_id)
