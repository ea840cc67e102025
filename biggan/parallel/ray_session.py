"""Joining or starting Ray, and leaving it: the one place a stage connects to a cluster.

`ensure_ray` joins RAY_ADDRESS's cluster (token authentication, Ray 2.60's default) or starts a
local instance with this machine's cores; `release_ray` leaves it again, so no worker log Ray
forwards comes after what the stage prints next. The train stage (biggan.train.ray_trainer) and
the sweep (biggan.sampling.sweep) both connect through here.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


# Start-up and shutdown cost of a short run (measured here: ~2-4 s less per fit): no metrics
# callbacks, no preemption-watcher actor, and the controller polls workers every 0.5 s instead
# of 2 s (fit() returns sooner; a checkpoint can be lost only if reported < ~0.5 s before a crash).
RAY_TRAIN_TUNING = {"RAY_TRAIN_METRICS_ENABLED": "0", "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",
                    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5",
                    # runs queued behind others on a busy cluster wait for their CPUs instead of
                    # failing after Ray's default 60 s (WorkerGroupStartupTimeoutError)
                    "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "3600"}


# Set by biggan.train.ray_cluster for the command it runs beside its private head node: the
# cluster is this machine alone, so there is nothing to spread over nodes.
SINGLE_NODE = "RAY_SINGLE_NODE"


class RayConnectionError(RuntimeError):
    pass


_connected_here = False                      # ray.init was called by ensure_ray in this process


def ensure_ray() -> str:
    """Connect to RAY_ADDRESS's cluster or start a local instance; -> 'existing' | 'joined' | 'local'."""
    import ray

    global _connected_here
    for k, v in RAY_TRAIN_TUNING.items():        # read by the driver and, on a local instance, its actors
        os.environ.setdefault(k, v)
    if ray.is_initialized():
        return "existing"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = os.environ.get("RAY_ADDRESS")
    if address:
        try:
            ray.init(address=address, runtime_env={"env_vars": {k: os.environ[k] for k in RAY_TRAIN_TUNING}})
        except Exception as e:
            hint = ""
            if "auth" in repr(e).lower():
                hint = (" Token authentication is on by default in Ray 2.60: set RAY_AUTH_MODE=token and make "
                        "the cluster's token available (~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or "
                        "RAY_AUTH_TOKEN), or use RAY_ADDRESS=auto on the head node.")
            raise RayConnectionError(f"cannot join the Ray cluster at RAY_ADDRESS={address!r}: {e}.{hint}") from e
        _connected_here = True
        return "joined"
    # "local": a new instance even where a killed head left <ray tmp>/ray_current_cluster behind,
    # which a bare ray.init() would try to join
    ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False)
    _connected_here = True
    private_token()
    return "local"


def release_ray() -> None:
    """Disconnect from (or stop) the Ray instance ensure_ray connected to or started: no worker
    log forwarded by Ray comes after what the caller prints next. A Ray session someone else
    initialised is left alone."""
    global _connected_here
    if _connected_here and "ray" in sys.modules:
        import ray

        ray.shutdown()
        _connected_here = False


def private_token() -> Path | None:
    """Ray writes its authentication token world-readable; make it 0600."""
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if path.is_file():
        path.chmod(0o600)
        return path
    return None


def cluster_cpus() -> float:
    import ray

    return float(ray.cluster_resources().get("CPU", 1.0))
