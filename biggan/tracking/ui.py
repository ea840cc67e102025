"""`python -m biggan ui`: MLflow's own `mlflow server` on the project's store, on 127.0.0.1.

    python -m biggan ui [--port 5000] [--params params.yaml] [--host 127.0.0.1]

The store is params' tracking.uri (MLFLOW_TRACKING_URI overrides; a relative sqlite path
resolves against the working directory, as the train stage resolves it against the repo
root). Artifacts: the train stage creates its experiments with the artifact location <store
dir>/mlruns/<name>, and the server's --default-artifact-root is that <store dir>/mlruns. With
an http(s) tracking URI there is nothing to start. The command prints the comparison link
(runs grouped by variant, sorted by the untruncated sweep FID: biggan.tracking.mlflow_run's
COMPARISON_VIEW) and then becomes `mlflow server` (exec): Ctrl-C / SIGTERM are MLflow's.
`--workers 1` and MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false: ~7 s to a healthy server on a
2-core machine instead of ~24 s (4 uvicorn workers and a job runner by default).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 5000


def store_args(uri: str) -> list[str]:
    from biggan.tracking.mlflow_run import sqlite_path

    db = sqlite_path(uri)
    args = ["--backend-store-uri", uri]
    return args + (["--default-artifact-root", (db.parent / "mlruns").as_uri()] if db is not None else [])


def server_command(uri: str, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST) -> list[str]:
    return [sys.executable, "-m", "mlflow", "server", *store_args(uri), "--host", host, "--port", str(port),
            "--workers", "1"]


def comparison_link(uri: str, base_url: str, experiment: str) -> str | None:
    """The runs table of `experiment` in the comparison view (None before its first run)."""
    from mlflow import MlflowClient

    from biggan.tracking.mlflow_run import VIEW_QUERY

    exp = MlflowClient(uri).get_experiment_by_name(experiment)
    return None if exp is None else f"{base_url}/#/experiments/{exp.experiment_id}/runs?{VIEW_QUERY}"


def serve(params_path: str | Path = "params.yaml", port: int = DEFAULT_PORT, host: str = DEFAULT_HOST) -> int:
    from biggan.config import load_params
    from biggan.tracking.mlflow_run import redact, resolve_uri

    params = load_params(params_path)
    uri = resolve_uri(params.tracking.uri, Path.cwd())
    if uri.startswith(("http://", "https://")):
        print(f"the tracking URI is a server already: open {redact(uri)}")
        return 0
    url = f"http://{host}:{port}"
    link = comparison_link(uri, url, params.tracking.experiment)
    print(f"MLflow UI: {url}  (store {uri}; Ctrl-C stops it)", flush=True)
    if link:
        print(f"  runs by variant, sorted by FID: {link}", flush=True)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)          # the server's store is its --backend-store-uri
    os.execve(sys.executable, server_command(uri, port, host), env)
