"""Joining or starting Ray, and leaving it: the one place a stage connects to a cluster.

`ensure_ray` joins RAY_ADDRESS's cluster (token authentication, Ray 2.60's default) or starts a
local instance with this machine's cores; `release_ray` leaves it again, so no worker log Ray
forwards comes after what the stage prints next. The train stage (biggan.train.ray_trainer) and
the sweep (biggan.sampling.sweep) both connect through here.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from biggan.storage import CREDENTIAL_VARS


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
        code = None if os.environ.get(SINGLE_NODE) else code_folder()    # ships the code unless one machine
        try:
            ray.init(address=address, runtime_env=runtime_env(code))
        except Exception as e:
            hint = ""
            if "auth" in repr(e).lower():
                hint = (" Token authentication is on by default in Ray 2.60: set RAY_AUTH_MODE=token and make "
                        "the cluster's token available (~/.ray/auth_token, RAY_AUTH_TOKEN_PATH or "
                        "RAY_AUTH_TOKEN), or use RAY_ADDRESS=auto on the head node.")
            raise RayConnectionError(f"cannot join the Ray cluster at RAY_ADDRESS={address!r}: {e}.{hint}") from e
        finally:
            if code is not None:                 # uploaded by ray.init
                import shutil
                shutil.rmtree(code, ignore_errors=True)
        _connected_here = True
        return "joined"
    # "local": a new instance even where a killed head left <ray tmp>/ray_current_cluster behind,
    # which a bare ray.init() would try to join
    ray.init(address="local", num_cpus=os.cpu_count() or 1, include_dashboard=False)
    _connected_here = True
    private_token()
    return "local"


# what a worker on another node needs from this process's environment: the object store's
# endpoint and keys (biggan.storage) and a tracking server's credentials
FORWARDED = (*CREDENTIAL_VARS, "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
             "MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_SERVER_CERT_PATH")


@dataclass(frozen=True)
class Credentials:
    """The FORWARDED variables of the launching environment, carried to a worker inside its job's
    arguments and set there with `apply()`. Not through the runtime env's env_vars: Ray's runtime-env
    agent writes those in plain text to runtime_env_agent.log on every node. The repr names the
    variables only, so no log or traceback shows a value."""

    values: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_env(cls) -> "Credentials":
        return cls(tuple((k, os.environ[k]) for k in FORWARDED if os.environ.get(k)))

    def apply(self) -> None:
        os.environ.update(dict(self.values))

    def __repr__(self) -> str:
        return f"Credentials({', '.join(k for k, _ in self.values)})"


def runtime_env(code: Path | None = None) -> dict:
    """The job's runtime env on a joined cluster: Ray Train's settings and, when `code` is given, that
    folder as the job's working_dir: Ray zips and uploads it once per job and every worker runs in
    its copy, so a node needs only the locked environment, no checkout. (A working_dir, not
    py_modules: without one, Ray puts the driver's current directory on every worker's sys.path,
    and a checkout found there on a node would shadow the shipped code.) Credentials travel with
    each job instead (`Credentials`)."""
    out: dict = {"env_vars": {k: os.environ[k] for k in RAY_TRAIN_TUNING}}
    if code is not None:
        out["working_dir"] = str(code)
    return out


def code_folder() -> Path:
    """A temporary folder holding a copy of the `biggan` package (what workers import), no caches."""
    import shutil
    import tempfile

    import biggan

    folder = Path(tempfile.mkdtemp(prefix="biggan-code-"))
    shutil.copytree(Path(biggan.__file__).parent, folder / "biggan", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


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
    return float(cluster_resources().get("CPU", 1.0))


def largest_node_cpus() -> float:
    """CPUs of the joined cluster's largest alive node: more cannot go to one worker."""
    import ray

    return max((float(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")), default=1.0)


def cluster_resources() -> dict[str, float]:
    """The joined cluster's total resources ({"CPU": 16.0, "GPU": 2.0, ...})."""
    import ray

    return {k: float(v) for k, v in ray.cluster_resources().items()}
