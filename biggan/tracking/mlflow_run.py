"""The driver's side of MLflow: store resolution, fail-fast check, one run per training run.

Facts this relies on (MLflow 3.17, verified on this project's machines):
  * the file store (`./mlruns`, `file:`) is refused ("maintenance mode"): the default here
    is SQLite, `tracking.uri` = sqlite:///mlflow.db resolved against the repo root;
    MLFLOW_TRACKING_URI overrides it.
  * an HTTP client retries for minutes before failing, so a server is probed with one
    short GET /health before anything starts.
  * `mlflow.pytorch.log_model` defaults to torch.export ("pt2"), which needs an input
    example and cannot take G's (z, y) signature: the generator is logged with
    serialization_format="pickle", explicit pip_requirements (skips the slow inference) and
    the `biggan` package as code_paths so it unpickles anywhere.
  * metrics go in `log_batch` calls (<= 1000 metrics, 100 params, 100 tags per request).
  * runs created without an experiment land in "Default": the driver creates the run in
    the configured experiment and rank 0 logs into it by run id.
"""
from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MAX_PARAMS, MAX_TAGS = 100, 100
TORCH_REQUIREMENT = "torch==2.13.0"


class TrackingUnavailable(RuntimeError):
    pass


def resolve_uri(configured: str, root: Path) -> str:
    """MLFLOW_TRACKING_URI, else `configured`; relative sqlite paths resolve against `root`."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        uri = prefix + str((Path(root) / uri[len(prefix):]).resolve())
    return uri


def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def check_reachable(uri: str, timeout_s: float = 3.0) -> None:
    """Raise TrackingUnavailable at once if the store cannot be used."""
    if uri.startswith(("http://", "https://")):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as r:
                if r.status != 200:
                    raise TrackingUnavailable(f"MLflow tracking server {uri}: GET /health returned {r.status}")
        except (urllib.error.URLError, OSError) as e:
            raise TrackingUnavailable(
                f"MLflow tracking server {uri} is unreachable ({getattr(e, 'reason', e)}); start it, or unset "
                f"MLFLOW_TRACKING_URI to use the local SQLite store of params.yaml's tracking.uri") from None
        return
    db = sqlite_path(uri)
    if db is not None:
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TrackingUnavailable(f"MLflow SQLite store {uri}: cannot create {db.parent}: {e}") from None
        if not os.access(db.parent, os.W_OK):
            raise TrackingUnavailable(f"MLflow SQLite store {uri}: {db.parent} is not writable")


def flatten(d: dict, prefix: str = "") -> dict[str, str]:
    """{'a': {'b': 1}} -> {'a.b': '1'}; lists as their repr."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = str(v)
    return out


def git_commit(root: Path) -> str:
    try:
        r = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                           timeout=10)
        commit = r.stdout.strip() if r.returncode == 0 else "unknown"
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("-dirty" if commit != "unknown" and dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _experiment_id(client, name: str, uri: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    db = sqlite_path(uri)
    location = (db.parent / "mlruns" / name).as_uri() if db is not None else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:                          # created concurrently by another stage
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def open_run(uri: str, experiment: str, run_name: str, tags: dict[str, str], params: dict[str, Any],
             resume_run_id: str | None = None) -> tuple[str, bool]:
    """Continue `resume_run_id` if it exists in this store, else create a run; -> (run_id, resumed)."""
    from mlflow import MlflowClient
    from mlflow.entities import Param, RunTag
    from mlflow.exceptions import MlflowException

    client = MlflowClient(uri)
    if resume_run_id:
        try:
            run = client.get_run(resume_run_id)
            if run.info.lifecycle_stage == "active":
                client.update_run(resume_run_id, status="RUNNING")
                return resume_run_id, True
        except MlflowException:
            pass
    run = client.create_run(_experiment_id(client, experiment, uri), run_name=run_name)
    run_id = run.info.run_id
    ps = [Param(k, v) for k, v in flatten(params).items()]
    ts = [RunTag(k, str(v)) for k, v in tags.items()]
    for i in range(0, max(len(ps), len(ts)), MAX_PARAMS):
        client.log_batch(run_id, params=ps[i:i + MAX_PARAMS], tags=ts[i:i + MAX_TAGS])
    return run_id, False


def finish_run(uri: str, run_id: str, metrics: dict[str, float], tags: dict[str, str], step: int,
               status: str = "FINISHED", model=None, model_name: str = "G_ema",
               artifacts: dict[str, Path] | None = None) -> str | None:
    """Summary metrics and tags, optional files and generator model, then close the run; -> model URI."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag

    client = MlflowClient(uri)
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None],
                     tags=[RunTag(k, str(v)) for k, v in tags.items()])
    for sub, path in (artifacts or {}).items():
        if Path(path).is_dir():
            client.log_artifacts(run_id, str(path), artifact_path=sub)
        else:
            client.log_artifact(run_id, str(path), artifact_path=sub)
    model_uri = None
    if model is not None:
        model_uri = log_generator(uri, run_id, model, model_name, step)
    client.set_terminated(run_id, status=status)
    return model_uri


@contextmanager
def global_tracking_uri(uri: str):
    """Point MLflow's fluent API at `uri` for a block: it reads a process-global URI (and
    exports it as MLFLOW_TRACKING_URI); both are put back afterwards."""
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_env, saved_uri = os.environ.get("MLFLOW_TRACKING_URI"), tracking_utils._tracking_uri
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_uri)
        if saved_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved_env


def log_generator(uri: str, run_id: str, G, name: str, step: int) -> str:
    """Log G as an MLflow pytorch model into the run."""
    import mlflow
    import mlflow.pytorch

    import biggan

    with global_tracking_uri(uri), mlflow.start_run(run_id=run_id):
        info = mlflow.pytorch.log_model(G.eval(), name=name, serialization_format="pickle",
                                        pip_requirements=[TORCH_REQUIREMENT], step=step,
                                        code_paths=[str(Path(biggan.__file__).parent)])
    return info.model_uri
