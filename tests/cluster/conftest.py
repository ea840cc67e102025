"""The `cluster` fixture (package scope): every server of the cluster rehearsal, real, on 127.0.0.1.

    def test_x(cluster):
        cluster.s3        S3Server     (bucket created; endpoint, access_key, secret_key, env(), fs(), stop/start)
        cluster.postgres  Postgres     (database mlflow; uri, connect())
        cluster.mlflow    MlflowServer (url: PostgreSQL backend, artifacts proxied to s3://<bucket>/mlflow)
        cluster.ray       RayNodes     (address, 2 nodes: resources head / second; kill_second, start_second)
        cluster.env()     environment for a subprocess joining all of it (AWS_*, RAY_ADDRESS, MLFLOW_TRACKING_URI)

Everything lives under /tmp/rc<pid> (short: Ray's unix socket paths; mode 0755: the `postgres` user
must reach its data folder when the tests run as root), removed afterwards. Teardown runs in reverse
order of start and then asserts that no process any server ever had is still alive.
"""
from __future__ import annotations

import os
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cluster.servers import MlflowServer, Postgres, RayNodes, S3Server, alive


@dataclass
class Cluster:
    root: Path
    s3: S3Server
    postgres: Postgres
    mlflow: MlflowServer
    ray: RayNodes
    timings: dict[str, float] = field(default_factory=dict)     # seconds: <server>_ready, up (down: printed)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)  # filled at teardown

    def servers(self):
        return (self.s3, self.postgres, self.mlflow, self.ray)

    def pids(self) -> set[int]:
        return {pid for server in self.servers() for pid in server.pids()}

    def env(self) -> dict[str, str]:
        """os.environ plus what a subprocess (a stage, `dvc`) needs to use the whole cluster."""
        return {**self.ray.env(), **self.s3.env(), "MLFLOW_TRACKING_URI": self.mlflow.url}


@pytest.fixture(scope="package")       # torn down when tests/cluster is done: its Ray driver and
def cluster():                           # servers never outlive it (other tests start their own Ray)
    root = Path(f"/tmp/rc{os.getpid()}")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(mode=0o755)
    root.chmod(0o755)                             # whatever the umask
    s3 = S3Server(root / "s3")
    postgres = Postgres(root / "pg")
    c = Cluster(root, s3, postgres, MlflowServer(root / "mlflow", postgres, s3), RayNodes(root))
    seen: set[int] = set()

    def stop(name, server) -> None:
        seen.update(server.pids())                # for the leak check: pids at the end, too
        c.peak_rss_mb[name] = round(server.rss_mb(peak=True))
        if server is s3:
            c.timings["s3_disk_mb"] = s3.disk_mb()
        t = time.monotonic()
        server.stop()
        c.timings[f"{name}_down"] = time.monotonic() - t

    t0 = time.monotonic()
    with ExitStack() as stack:
        try:
            for name, server in zip(("s3", "postgres", "mlflow", "ray"), c.servers()):
                stack.callback(stop, name, server)
                c.timings[f"{name}_ready"] = server.start()
                seen.update(server.pids())
            c.timings["up"] = time.monotonic() - t0
            yield c
        finally:
            t1 = time.monotonic()
            stack.close()                          # reverse order: ray, mlflow, postgres, s3
            print(f"\ncluster fixture: {c.timings}, down {time.monotonic() - t1:.1f} s, peak RSS (MB) "
                  f"{c.peak_rss_mb}, {len(seen)} processes, none left: {not alive(seen)}")
            left = alive(seen)
            shutil.rmtree(root, ignore_errors=True)
            assert not left, f"processes left behind by the cluster fixture: {left}"
