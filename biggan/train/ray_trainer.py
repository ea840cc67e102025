"""Ray Train (V2) wiring: a TorchTrainer running `run_loop` on `train.num_workers` workers.

Facts this relies on (Ray 2.60, verified on this project's machines):
  * `RAY_ADDRESS` set: `ray.init()` joins that cluster. Token authentication is on by
    default in 2.60: an explicit host:port address needs `RAY_AUTH_MODE=token` and the
    cluster's token (~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN), while
    `RAY_ADDRESS=auto` finds a local cluster by itself.
  * Otherwise a local instance is started with num_cpus = this machine's cores and no
    dashboard (its start-up dominates short runs). Ray 2.60 cannot bind loopback only: its
    gRPC servers (GCS, raylets, workers) listen on all interfaces, and `ray.init` turns a
    127.0.0.1 node address back into the machine's address (services.resolve_ip_for_localhost).
    Token authentication (on by default in 2.60) guards them; the token file is made
    private (0600) here, since Ray writes it world-readable.
  * Several `fit()` calls may run at once from threads of one driver (one per seed): each
    gets its own controller and worker group; `share` splits the CPUs between them.
  * `RunConfig(name, storage_path)` identifies the run: calling `fit()` again with the
    same pair resumes from the newest registered checkpoint (`ray.train.get_checkpoint()`
    in the workers), also after the whole driver was killed.
  * `FailureConfig(max_failures)`: a dead worker restarts the whole group from the newest
    checkpoint. The controller registers reports by polling workers every
    RAY_TRAIN_HEALTH_CHECK_INTERVAL_S (2 s): a checkpoint reported less than ~2 s before a
    crash can be lost and the run resumes from the one before (the loop tolerates that:
    its history comes from the checkpoint, MLflow steps are deduplicated).
  * Every rank must call `ray.train.report` at the same points (it synchronises the
    checkpoint directory name across ranks); only rank 0 attaches a checkpoint.
  * `Result.return_value` is rank 0's return value of the train function.
  * The controller asks a FailurePolicy (`_initialize_and_run_controller`'s `failure_policy`)
    whether to restart when a poll finds a worker error: InputErrorsRaise (ray_failures.py)
    ends the run at once on an InputError (a corrupt shard, a missing input file, a model that
    cannot be built) and `fit()` raises that error; every other error retries as before.
"""
from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from biggan import storage
from biggan.config.train import RuntimeConfig
from biggan.parallel.ray_session import Credentials, cluster_cpus, cluster_resources, ensure_ray, largest_node_cpus
from biggan.train.checkpoint import read_state, write_state
from biggan.train.errors import InputError
from biggan.train.job import TrainJob
from biggan.train.loop import run_loop


def cpus_per_worker(job: TrainJob, joined: bool, share: int = 1) -> float:
    """train.cpus_per_worker, else on GPUs a GPU's whole share of the cluster's CPUs (16 CPUs and
    2 GPUs: 8 per worker), else the cluster's (or this machine's) CPUs split over the workers of
    `share` runs launched together (3 seeds x 1 worker on 2 cores: 2/3 CPU each, so all three
    run at once and no core idles while the last one trains alone)."""
    cfg = job.train
    if cfg.cpus_per_worker:
        return cfg.cpus_per_worker
    if cfg.use_gpu:
        import torch

        res = cluster_resources() if joined else {"CPU": float(os.cpu_count() or 1),
                                                  "GPU": float(torch.cuda.device_count())}
        share_of_gpu = max(1, int(res.get("CPU", 1) // max(1.0, res.get("GPU", 1))))
        return float(min(share_of_gpu, int(largest_node_cpus())) if joined else share_of_gpu)
    total = cluster_cpus() if joined else float(os.cpu_count() or 1)
    per_worker = total / (cfg.num_workers * share)
    if joined:                                  # a worker's CPUs must fit on one node
        per_worker = min(per_worker, largest_node_cpus())
    return math.floor(per_worker * 1e4) / 1e4    # down: 3 x 0.6667 > 2 CPUs


class RayEnv:
    """`Env` inside a Ray Train worker."""

    def __init__(self):
        import ray.train
        from ray.train.torch import get_device

        ctx = ray.train.get_context()
        self.rank, self.world_size = ctx.get_world_rank(), ctx.get_world_size()
        self.device = get_device()

    def load(self) -> dict | None:
        import ray.train

        ckpt = ray.train.get_checkpoint()
        if ckpt is None:
            return None
        with ckpt.as_directory() as d:
            return read_state(d)

    def save(self, state: dict | None, name: str, metrics: dict) -> None:
        import ray.train
        from ray.train import Checkpoint

        if state is None:
            ray.train.report(metrics, checkpoint_dir_name=name)
            return
        with tempfile.TemporaryDirectory(prefix="biggan_ckpt_") as d:
            write_state(d, state)
            ray.train.report(metrics, checkpoint=Checkpoint.from_directory(d), checkpoint_dir_name=name)


# Ray Train's default callbacks that start an actor (one more Python process each) that a run
# does not need:
#   PlacementGroupCleanerCallback  a detached actor that frees the run's placement group should
#                                  its controller die; Ray frees a job's placement groups when its
#                                  driver (the stage) exits
#   DatasetsCallback               a DatasetManager actor (it imports Ray Data) per run, created
#                                  even when the trainer has no `datasets` (kept when it has)
UNNEEDED_CALLBACKS = frozenset({"PlacementGroupCleanerCallback", "DatasetsCallback"})


def _lean(trainer_cls):
    """`trainer_cls` without the UNNEEDED_CALLBACKS it would create (Ray 2.60's default-callback
    hook; where it is missing, the trainer as it is). Measured: a lone 20-iteration run's fit()
    11.1-11.4 s -> 9.7-9.8 s without the cleaner (Intel Xeon); 3 concurrent runs reached their
    train function after 19.9 s instead of 28.5 s without the DatasetManager too (AMD EPYC)."""
    if not hasattr(trainer_cls, "_create_default_callbacks"):
        return trainer_cls

    class LeanTrainer(trainer_cls):
        def _create_default_callbacks(self):
            drop = UNNEEDED_CALLBACKS - ({"DatasetsCallback"} if self.datasets else set())
            return [c for c in super()._create_default_callbacks() if type(c).__name__ not in drop]

    return LeanTrainer


STARTS = "worker_starts.log"      # in the run's folder: one line per start of its worker group


def record_start(where: str) -> None:
    """One line per worker per start of a run's worker group: its rank, its Ray node and where its
    `biggan` was imported from (the job's shipped copy on a joined cluster). Appended to a local
    log, or one object each under the store's <run>/worker_starts/ (an object store cannot append)."""
    import ray
    import ray.train

    import biggan

    ctx = ray.train.get_context()
    line = (f"{time.strftime('%Y-%m-%dT%H:%M:%S')} rank {ctx.get_world_rank()} of {ctx.get_world_size()} "
            f"pid {os.getpid()} node {ray.get_runtime_context().get_node_id()} code {Path(biggan.__file__).parent}\n")
    if storage.is_url(where):
        storage.write_bytes(storage.join(where, f"{time.time_ns()}-{os.getpid()}"), line.encode())
    else:
        with open(where, "a") as f:
            f.write(line)


def starts(where: str) -> list[str]:
    """The lines record_start wrote."""
    if not storage.is_url(where):
        return Path(where).read_text().splitlines() if Path(where).is_file() else []
    from pyarrow.fs import FileSelector

    fs, path = storage.filesystem(where)
    infos = fs.get_file_info(FileSelector(path, allow_not_found=True))
    return [storage.read_bytes(f"s3://{i.path}").decode().strip() for i in sorted(infos, key=lambda i: i.path)]


def worker_main(config: dict) -> dict:
    """The Ray Train worker function."""
    import ray.cloudpickle

    config["credentials"].apply()
    env = RayEnv()
    if config.get("starts"):
        record_start(config["starts"])
    job = ray.cloudpickle.loads(config["job"]) if isinstance(config["job"], bytes) else config["job"]
    try:
        return run_loop(job, env)
    except InputError as e:
        bad = e
    # outside the except: Ray logs each failing rank's traceback, and this one is a frame long
    raise bad.with_traceback(None)


def _input_errors_raise(trainer_cls):
    """`trainer_cls` whose controller ends the run at once on an InputError (ray_failures.py)."""
    if not hasattr(trainer_cls, "_initialize_and_run_controller"):
        return trainer_cls

    class FailFastTrainer(trainer_cls):
        def _initialize_and_run_controller(self, **controller_init_kwargs):
            from biggan.train.ray_failures import InputErrorsRaise

            controller_init_kwargs["failure_policy"] = InputErrorsRaise(self.run_config.failure_config)
            return super()._initialize_and_run_controller(**controller_init_kwargs)

    return FailFastTrainer


def torch_config(runtime: RuntimeConfig):
    """Ray's process-group settings: the DDP backend (None: nccl with GPUs, else gloo) and the
    collective timeout; a rank stuck longer than that (e.g. waiting for rank 0's evaluation)
    fails its run instead of hanging."""
    from ray.train.torch import TorchConfig

    return TorchConfig(backend=None if runtime.ddp_backend == "auto" else runtime.ddp_backend,
                       timeout_s=runtime.ddp_timeout_s)


def trainer_kind(job: TrainJob) -> tuple[type, dict]:
    """(Ray Train trainer class, its backend argument). One worker on CPUs needs no process
    group (the loop and cross-replica BN use torch.distributed only with several ranks), so it
    runs on the plain DataParallelTrainer: Ray Train's controller then never imports torch (its
    TorchConfig does, ~1 CPU-s per run) and the worker sets up no gloo group."""
    cfg = job.train
    if cfg.num_workers == 1 and not cfg.use_gpu:
        from ray.train.v2.api.data_parallel_trainer import DataParallelTrainer

        return DataParallelTrainer, {}
    from ray.train.torch import TorchTrainer

    return TorchTrainer, {"torch_config": torch_config(cfg.runtime)}


def opaque(config: dict) -> dict:
    """`config` with its job pickled: Ray Train's controller unpickles the loop config too (its
    run context holds it) and would import torch and biggan's model code for an object only the
    workers use (~1.7 CPU-s per run); worker_main unpickles it."""
    import ray.cloudpickle

    return {**config, "job": ray.cloudpickle.dumps(config["job"])}


def loop_config(job: TrainJob, starts_at: str) -> dict:
    """What every worker receives (pickled by Ray): the job, where to record its starts, and the
    launching environment's store and tracking credentials (set in the worker's environment)."""
    return {"job": job, "starts": starts_at, "credentials": Credentials.from_env()}


def fit(job: TrainJob, local: Path, run_name: str, share: int = 1, store: str | None = None) -> tuple[dict, dict]:
    """Run (or resume) the job on Ray; -> (final checkpoint state, rank 0's loop summary).
    Checkpoints go to <store>/checkpoints/train/<run_name> (an object store or shared filesystem
    every node reaches), else to <local>/<run_name> on this machine. `share`: how many runs the
    caller launches at once on this cluster. Raises the InputError a worker met (no restart),
    else Ray's TrainingFailedError once max_failures is spent."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig, TrainingFailedError

    from biggan.train.ray_failures import input_error

    mode = ensure_ray()
    cfg = job.train
    cpus = cpus_per_worker(job, joined=mode != "local", share=share)
    if job.threads is None:
        job = replace(job, threads=cfg.worker_threads(cpus))
    resources = {"CPU": cpus, **({"GPU": 1} if cfg.use_gpu else {})}
    filesystem = None
    if store:
        checkpoints = storage.join(store, storage.CHECKPOINTS)
        starts_at = storage.join(checkpoints, run_name, "worker_starts")
        if storage.is_url(store):            # the driver's client, keys included, pickled to the controller
            filesystem, checkpoints = storage.filesystem(checkpoints)       # and workers: never logged
    else:
        checkpoints = str(local)
        (local / run_name).mkdir(parents=True, exist_ok=True)
        starts_at = str(local / run_name / STARTS)
    trainer_cls, backend = trainer_kind(job)
    trainer = _input_errors_raise(_lean(trainer_cls))(
        worker_main,
        train_loop_config=opaque(loop_config(job, starts_at)),
        scaling_config=ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu,
                                     resources_per_worker=resources, placement_strategy=cfg.runtime.placement),
        **backend,
        run_config=RunConfig(name=run_name, storage_path=checkpoints, storage_filesystem=filesystem,
                             failure_config=FailureConfig(max_failures=cfg.max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=cfg.checkpoint_keep)),
    )
    try:
        result = trainer.fit()
    except TrainingFailedError as e:
        bad = input_error(e)
        if bad is None:
            raise
        raise bad from None                     # its one line, not Ray's summary of every rank
    if result.error is not None:
        raise result.error
    summary = result.return_value or {}
    if result.checkpoint is None:
        raise RuntimeError(f"Ray run {run_name} finished without a checkpoint in {checkpoints}/{run_name}")
    with result.checkpoint.as_directory() as d:
        state = read_state(d)
    if state["iteration"] != summary.get("iteration", state["iteration"]) or not state["finished"]:
        raise RuntimeError(f"Ray run {run_name}: the newest registered checkpoint is at iteration "
                           f"{state['iteration']} (finished={state['finished']}) but training ended at "
                           f"{summary.get('iteration')}; re-run to resume from it")
    return state, summary
