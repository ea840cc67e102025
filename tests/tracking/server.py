"""A real `mlflow server` on 127.0.0.1 for tests: start, wait for /health, stop (process group)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


class MlflowServer:
    def __init__(self, root: Path, port: int, backend_uri: str | None = None,
                 artifacts_destination: str | None = None, extra_env: dict[str, str] | None = None):
        """Defaults: SQLite in `root`, artifacts under root/art. `artifacts_destination` (e.g. s3://b/p):
        proxied artifacts instead (clients log over HTTP); `extra_env`: the server's environment only."""
        self.root, self.port = Path(root), port
        self.backend_uri, self.artifacts_destination = backend_uri, artifacts_destination
        self.extra_env = extra_env or {}
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.log = self.root / "server.log"

    def start(self, timeout_s: float = 90.0) -> float:
        """-> seconds to a healthy /health."""
        self.root.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        env.update(self.extra_env, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        artifacts = (["--artifacts-destination", self.artifacts_destination] if self.artifacts_destination
                     else ["--default-artifact-root", (self.root / "art").as_uri()])
        cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
               self.backend_uri or f"sqlite:///{self.root / 'mlflow.db'}", *artifacts,
               "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=open(self.log, "a"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            return wait_healthy(self.url, self.proc, timeout_s)
        except RuntimeError as e:
            self.stop()
            raise RuntimeError(f"{e}: {self.log.read_text()[-2000:]}") from None

    def stop(self) -> None:
        """Stop the server and its workers; returns once the port refuses connections."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1)
                time.sleep(0.2)
            except (urllib.error.URLError, OSError):
                return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_healthy(url: str, proc: subprocess.Popen | None = None, timeout_s: float = 90.0) -> float:
    """Poll GET <url>/health; -> seconds waited (RuntimeError if `proc` exits first or on timeout)."""
    t0 = time.monotonic()
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server process exited with {proc.returncode} before {url}/health answered")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - t0
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() - t0 > timeout_s:
            raise RuntimeError(f"{url}/health did not answer within {timeout_s:.0f} s")
        time.sleep(0.25)
