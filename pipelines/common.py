"""What the Prefect flows share: tool paths, the environment of the DVC subprocess, params
(through biggan.config), DVC's status and lock file.

Environment (facts of this project's tool stack, Prefect 3.8.8 / DVC 3.67 / MLflow 3.17 on a
2-core machine; they are why `apply_env_defaults` exists):
  * PREFECT_HOME: Prefect keeps its SQLite DB (prefect.db + -wal/-shm), profiles and task
    result storage there, default ~/.prefect. Set it explicitly per project (this repo
    ignores /.prefect/ in git) so runs, schedules and caches of different checkouts do not
    mix.
  * PREFECT_SERVER_ANALYTICS_ENABLED=false: with it on, the first ephemeral run logs a
    harmless but alarming `send_telemetry_heartbeat ... sqlite3.OperationalError: database
    is locked`.
  * PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (default 20): without PREFECT_API_URL
    every flow call starts a temporary server; its first start on a fresh DB (migrations)
    took ~17-20 s here, so the default is raised to 90.
  * DVC_NO_ANALYTICS=1 (DVC otherwise leaves analytics temp files), MLFLOW_SERVER_ENABLE_JOB_
    EXECUTION=false (an MLflow server without it spawns 7 job-runner processes, 24 s to
    healthy instead of 7 s), RAY_USAGE_STATS_ENABLED=0.
  * RAY_TMPDIR (train stages with launcher: ray): Ray's default /tmp/ray is fine; if set, keep
    it short (Ray's unix socket paths must stay under ~107 bytes).
  * MLFLOW_TRACKING_URI, when set, overrides params.yaml's tracking.uri in the train stage
    and in the registry step alike (biggan.tracking.mlflow_run.resolve_uri): keep it
    absolute (sqlite:////abs/path.db) or unset.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from biggan.config import Params

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent

ENV_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "DVC_NO_ANALYTICS": "1",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "RAY_USAGE_STATS_ENABLED": "0",
}


def apply_env_defaults(prefect_home: str | Path | None = None) -> dict[str, str]:
    """Set (where unset) the environment above in this process; call before importing prefect.

    PREFECT_HOME defaults to <project root>/.prefect. Returns what was set."""
    wanted = dict(ENV_DEFAULTS)
    wanted["PREFECT_HOME"] = str(prefect_home or PROJECT_ROOT / ".prefect")
    done = {}
    for k, v in wanted.items():
        if k not in os.environ:
            os.environ[k] = v
            done[k] = v
    return done


def tool(name: str) -> str:
    """The venv's executable `name` (dvc, mlflow, prefect) beside this interpreter, else PATH's."""
    p = BIN_DIR / name
    return str(p) if p.exists() else name


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for `dvc repro`: this venv first on PATH (DVC runs each stage's `python -m
    stages...` through the shell, which must find this interpreter), unbuffered output so
    the lines stream live, no analytics."""
    env = dict(os.environ)
    env["PATH"] = str(BIN_DIR) + os.pathsep + env.get("PATH", "")
    env.setdefault("DVC_NO_ANALYTICS", "1")
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def read_params(repo: str | Path) -> Params:
    """params.yaml of `repo`, read and validated as the stages read it (biggan.config)."""
    from biggan.config import load_params

    path = Path(repo) / "params.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {Path(repo).resolve()} the repository root?")
    return load_params(path)


def tracking_settings(repo: str | Path, params: Params | None = None) -> dict[str, str]:
    """{'uri', 'experiment', 'registered_model'} as the train stage resolves them for `repo`."""
    from biggan.tracking.mlflow_run import resolve_uri

    cfg = (read_params(repo) if params is None else params).tracking
    return {"uri": resolve_uri(cfg.uri, Path(repo).resolve()), "experiment": cfg.experiment,
            "registered_model": cfg.registered_model}


_CWD = threading.Lock()


def dvc_status(repo: str | Path, targets: list[str] | None = None) -> dict[str, Any]:
    """DVC's `status` of `repo` (what `dvc status --json [targets]` prints): {stage or .dvc file:
    [what changed]}, {} when up to date.

    Run from the repository root, as the command is: DVC resolves targets and names stages
    relative to the working directory. Raises RuntimeError with DVC's message when DVC cannot
    evaluate the pipeline (invalid dvc.yaml, unknown target, a params file it cannot read)."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    root = Path(repo).resolve()
    with _CWD, contextlib.chdir(root):
        try:
            with Repo(str(root)) as dvc:
                return dvc.status(targets=targets or None)
        except DvcException as e:
            cause = f"{e}: {e.__cause__}" if e.__cause__ else str(e)
            raise RuntimeError(f"dvc status in {repo} failed: {cause}") from e


def dvc_lock(repo: str | Path) -> dict[str, Any]:
    """The stage entries of `repo`'s dvc.lock ({} before the first run), read by DVC's own
    reader: DVC writes a stage's entry (its deps' and outs' hashes) as soon as that stage finishes."""
    from dvc.utils.serialize import load_yaml

    path = Path(repo) / "dvc.lock"
    if not path.is_file():
        return {}
    return load_yaml(str(path)).get("stages") or {}
