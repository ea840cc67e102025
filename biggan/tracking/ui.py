"""The MLflow UI (tracking server + REST API) on this project's store, bound to 127.0.0.1.

    python -m biggan ui [--port 5000] [--params params.yaml] [--host 127.0.0.1]

Serves the store the train stage logs into: params' tracking.uri (MLFLOW_TRACKING_URI
overrides), a relative sqlite path resolved against the current directory, the repository
root (as the train stage resolves it, biggan.tracking.mlflow_run.resolve_uri). Artifacts: the
train stage creates its experiments with the artifact location <store dir>/mlruns/<name>
and writes there directly; the server's --default-artifact-root is that same <store
dir>/mlruns, so experiments created through the server land beside them. When the tracking
URI is already an http(s) server there is nothing to start: the command says so.

Settings (MLflow 3.17 on a 2-core machine): `--workers 1` and
MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false (without them the server starts 4 uvicorn workers
and a job runner with 7 huey consumers: 24 s to a healthy /health instead of ~7 s). The
server only accepts localhost Host headers by default (its security middleware); use
mlflow's --allowed-hosts for anything else. Ctrl-C (or SIGTERM) stops it; a SIGTERM while it
is still starting can leave child processes behind for ~25 s, so this waits for /health
before it reports the URL.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 5000
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


@dataclass(frozen=True)
class Store:
    backend_uri: str                 # what the server reads and writes
    artifact_root: str | None        # --default-artifact-root (None: the server's default)
    remote: bool = False             # backend_uri is already an http(s) server


def resolve_store(params_path: str | Path = "params.yaml", root: str | Path | None = None) -> Store:
    """The project's store from params (tracking.uri, MLFLOW_TRACKING_URI) and its artifact root."""
    from biggan.config import load_params
    from biggan.tracking.mlflow_run import resolve_uri

    params = load_params(params_path)
    uri = resolve_uri(params.tracking.uri, Path(root) if root is not None else Path.cwd())
    return store_for(uri)


def store_for(uri: str) -> Store:
    from biggan.tracking.mlflow_run import sqlite_path

    if uri.startswith(("http://", "https://")):
        return Store(uri, None, remote=True)
    db = sqlite_path(uri)
    if db is not None:
        return Store(uri, (db.parent / "mlruns").as_uri())
    return Store(uri, None)


def server_command(store: Store, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, workers: int = 1) -> list[str]:
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store.backend_uri,
           "--host", host, "--port", str(port), "--workers", str(workers)]
    if store.artifact_root:
        cmd += ["--default-artifact-root", store.artifact_root]
    return cmd


def server_env() -> dict[str, str]:
    env = {**os.environ, **SERVER_ENV}
    env.pop("MLFLOW_TRACKING_URI", None)       # the server's store is its --backend-store-uri
    return env


def url_of(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def start_server(store: Store, port: int = DEFAULT_PORT, host: str = DEFAULT_HOST, workers: int = 1,
                 **popen_kwargs) -> subprocess.Popen:
    """`mlflow server` as a child process (not waited for: see wait_healthy)."""
    if store.remote:
        raise ValueError(f"{store.backend_uri} is a tracking server already; open it in a browser")
    db = store.backend_uri[len("sqlite:///"):] if store.backend_uri.startswith("sqlite:///") else None
    if db:
        Path(db).parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(server_command(store, port, host, workers), env=server_env(), **popen_kwargs)


def wait_healthy(url: str, proc: subprocess.Popen | None = None, timeout_s: float = 120.0) -> float:
    """Poll GET <url>/health until it says OK; -> seconds waited. Raises RuntimeError if the
    process exits first or the timeout passes."""
    t0 = time.monotonic()
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {proc.returncode} before {url}/health answered")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - t0
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() - t0 > timeout_s:
            raise RuntimeError(f"{url}/health did not answer within {timeout_s:.0f} s")
        time.sleep(0.25)


def stop_server(proc: subprocess.Popen, timeout_s: float = 15.0) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def serve(params_path: str | Path = "params.yaml", port: int = DEFAULT_PORT, host: str = DEFAULT_HOST,
          workers: int = 1, timeout_s: float = 120.0) -> int:
    """Start the UI, print its URL once healthy, run until interrupted (the `biggan ui` command)."""
    store = resolve_store(params_path)
    if store.remote:
        print(f"the tracking URI is a server already: open {store.backend_uri}")
        return 0
    url = url_of(host, port)
    print(f"starting the MLflow UI on {store.backend_uri} (artifacts: {store.artifact_root or 'server default'})",
          flush=True)
    proc = start_server(store, port, host, workers)

    def _term(signum, frame):                # SIGTERM -> the finally below stops the server
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _term)
    try:
        took = wait_healthy(url, proc, timeout_s)
        print(f"MLflow UI: {url}  (healthy after {took:.1f} s; Ctrl-C stops it)", flush=True)
        print(f"  clients: MLFLOW_TRACKING_URI={url}  (or keep using {store.backend_uri} directly)", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop_server(proc)
