"""Where the sweep's jobs run (biggan.sampling.jobs.run_all, `--executor`):

  * pool -- a pool of spawned processes on this machine (with CUDA: one per GPU);
  * ray  -- one Ray task per model on the cluster (RAY_ADDRESS, joined as the train stage joins
    it), with one GPU each when the cluster has GPUs;
  * auto -- ray when a Ray cluster is configured and has GPUs or more than one node, else pool.

A Ray task runs in another process, with another working directory, maybe on another node with
no checkout: it reads no path of this machine. With params `storage.root` set, each job's params
file, model folder and evaluation inputs (feature net, reference statistics) are copied to
<root>/inputs/<md5>/ (once per content, biggan.storage.put_input) and the task gets a job naming
only those URLs (`for_cluster`); the task fetches them to its node (sweep.job_inputs). Without a
storage root the sweep runs on Ray only on a one-node cluster, with absolute paths.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import torch

from biggan.sampling.jobs import SweepError, SweepJob, check_inputs, run_job

EXECUTORS = ("auto", "pool", "ray")


def _ray_connected() -> bool:
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


def _alive_nodes() -> int:
    import ray

    return sum(1 for n in ray.nodes() if n.get("Alive"))


def choose_executor(executor: str, device: str) -> tuple[str, bool]:
    """-> ("pool" | "ray", one GPU per Ray task). Joins the configured Ray cluster (as the train
    stage does) to see its GPUs and nodes, and leaves it again when the pool is chosen; under
    `make repro`'s private head (RAY_SINGLE_NODE=1) the pool is chosen without joining."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor {executor!r}; allowed: {list(EXECUTORS)}")
    from biggan.parallel.ray_session import SINGLE_NODE

    if executor == "pool" or (executor == "auto" and (os.environ.get(SINGLE_NODE) == "1" or
                                                      not (os.environ.get("RAY_ADDRESS") or _ray_connected()))):
        return "pool", False
    import ray

    from biggan.parallel.ray_session import RayConnectionError, ensure_ray, release_ray

    try:
        ensure_ray()
    except RayConnectionError as e:
        raise SweepError(str(e)) from None
    gpus = ray.cluster_resources().get("GPU", 0) > 0 and device != "cpu"
    if executor == "ray" or gpus or _alive_nodes() > 1:
        return "ray", gpus
    release_ray()
    return "pool", False


def cluster_store(params_path: str) -> str | None:
    """The storage root Ray tasks read their inputs from (params `storage.root`), checked usable;
    None (absolute paths) on a one-node cluster. Raises SweepError, leaving Ray, otherwise."""
    from biggan import storage
    from biggan.config import load_params
    from biggan.parallel.ray_session import release_ray

    root = load_params(params_path).storage.root
    try:
        if root:
            storage.check(root)
        elif _alive_nodes() > 1:
            raise SweepError(f"the Ray cluster has {_alive_nodes()} nodes, but {params_path}: storage.root is null: "
                             f"a sweep task on another node could not read this machine's params, models or "
                             f"reference statistics; set storage.root (s3://bucket/prefix, or a path every node "
                             f"mounts), or run the sweep with --executor pool")
    except (SweepError, storage.StorageError) as e:
        release_ray()
        raise SweepError(str(e)) from None
    return root


def _absolute_eval(cfg):
    """The eval config with its files' paths absolute (a Ray task's working directory differs)."""
    update = {"refstats_dir": str(Path(cfg.refstats_dir).absolute()),
              "digits_net": cfg.digits_net.model_copy(update={"out_dir": str(Path(cfg.digits_net.out_dir).absolute())})}
    for key in ("inception_weights", "vgg16_weights"):
        if getattr(cfg, key):
            update[key] = str(Path(getattr(cfg, key)).absolute())
    return cfg.model_copy(update=update)


def for_cluster(job: SweepJob, root: str | None) -> SweepJob:
    """The job as a Ray task gets it: its inputs copied under `root` and named by URL, or, with no
    root (one node), by absolute path. Raises FileNotFoundError (the pool's message) for a missing
    reference statistics or model file, OSError when the store refuses a copy."""
    from biggan import storage
    from biggan.config import load_params
    from biggan.metrics import staged

    spec = load_params(job.params).run(job.variant, job.seed)
    cfg = spec.eval.model_copy(update={"refstats_dir": job.refstats}) if job.refstats else spec.eval
    model_dir = Path(job.models) / job.variant / f"s{job.seed}"
    check_inputs(job, spec.dataset_name, model_dir, Path(cfg.refstats_dir) / spec.dataset_name)
    if not root:
        return replace(job, params=str(Path(job.params).absolute()), models=None, refstats=None,
                       model_dir=str(model_dir.absolute()), eval=_absolute_eval(cfg))
    return replace(job, params=storage.put_input(job.params, root), models=None, refstats=None,
                   model_dir=storage.put_input(model_dir, root), eval=staged.on_store(cfg, spec.dataset_name, root))


def pool_results(jobs: list[SweepJob], parallel: int | None) -> Iterator[tuple[SweepJob, dict]]:
    """(job, result) as each finishes: in this process for one at a time, else in spawned processes
    (at most `parallel`; default the cores, or with CUDA one per GPU, each job on the next GPU)."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from biggan.metrics.device import resolve_device

    gpus = torch.cuda.device_count() if jobs and resolve_device(jobs[0].device) == "cuda" else 0
    if gpus:
        jobs = [replace(j, device=f"cuda:{i % gpus}") for i, j in enumerate(jobs)]
    parallel = max(1, min(len(jobs), parallel or gpus or os.cpu_count() or 1))
    if parallel == 1:
        yield from ((j, run_job(j)) for j in jobs)
        return
    with ProcessPoolExecutor(parallel, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_job, j): j for j in jobs}
        for f in as_completed(futures):
            yield futures[f], f.result()


def ray_results(jobs: list[SweepJob], gpus: bool, root: str | None = None) -> Iterator[tuple[SweepJob, dict]]:
    """(job, result) as each Ray task finishes; a task holds one GPU when `gpus`, else its threads' CPUs.
    Each job is submitted as `for_cluster` makes it; a job whose inputs are missing or cannot be
    copied is not submitted: its result is the error. A summary's model_dir is the folder as this
    machine names it (as the pool's)."""
    import ray

    from biggan.parallel.ray_session import Credentials

    task = ray.remote(run_job)
    credentials = Credentials.from_env()     # the store's keys, set in the task's environment
    pending = {}
    for j in jobs:
        try:
            staged = for_cluster(j, root)
        except OSError as e:               # FileNotFoundError: the pool's message for a missing input
            yield j, {"error": str(e) if isinstance(e, FileNotFoundError) else
                      f"{j.name}: cannot copy its inputs to storage.root {root}: {e}"}
            continue
        opts = {"num_cpus": 1 if gpus else (j.threads or 1), "num_gpus": 1 if gpus else 0}
        pending[task.options(**opts).remote(staged, credentials)] = j
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        job, result = pending.pop(done[0]), ray.get(done[0])
        if "summary" in result:
            result["summary"]["model_dir"] = str(Path(job.models) / job.variant / f"s{job.seed}")
        yield job, result
