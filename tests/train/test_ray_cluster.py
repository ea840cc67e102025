"""`python -m biggan.train.ray_cluster -- CMD`: one Ray head for a whole `dvc repro`, what it
listens on, its token file, and that nothing outlives it."""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO_ROOT, ray_test_env

pytestmark = pytest.mark.slow

PROBE = """
import json, os, psutil, ray
ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
node = ray.nodes()[0]
actor = ray.remote(num_cpus=0)(type("Alive", (), {"pid": lambda self: os.getpid()})).remote()
worker_pid = ray.get(actor.pid.remote())     # a worker process the node must take down with it
listening = []
for c in psutil.net_connections("inet"):
    if c.status != psutil.CONN_LISTEN or c.pid is None:
        continue
    try:
        cmd = " ".join(psutil.Process(c.pid).cmdline())
    except psutil.Error:
        continue
    if os.environ["RAY_TMPDIR"] in cmd or "ray" in cmd.split("/")[-1] or "raylet" in cmd or "gcs_server" in cmd:
        listening.append([c.laddr.ip, c.laddr.port, cmd[:80]])
import subprocess, sys
gcs = ray.get_runtime_context().gcs_address
bad = subprocess.run([sys.executable, "-c", f"import ray; ray.init(address={gcs!r})"], capture_output=True,
                     text=True, timeout=120, env={**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64})
print("PROBE " + json.dumps({"node_ip": node["NodeManagerAddress"], "listening": listening,
                             "cpus": ray.cluster_resources().get("CPU"), "bad_token_rc": bad.returncode,
                             "bad_token_err": bad.stderr[-6000:], "worker_pid": worker_pid}))
raise SystemExit(7)
"""


def test_command_runs_beside_a_private_head_node_that_is_stopped_after(tmp_path):
    temp = f"/tmp/ray_c{os.getpid()}"
    env = {**os.environ, **ray_test_env(), "RAY_TMPDIR": temp, "HOME": str(tmp_path)}
    env.pop("RAY_ADDRESS", None)
    r = subprocess.run([sys.executable, "-m", "biggan.train.ray_cluster", "--num-cpus", "2", "--",
                        sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    try:
        assert r.returncode == 7, r.stdout[-3000:] + r.stderr[-3000:]          # the command's own status
        (line,) = [x for x in r.stdout.splitlines() if x.startswith("PROBE ")]
        probe = json.loads(line[len("PROBE "):])
        assert probe["cpus"] == 2
        # Ray 2.60 cannot bind loopback only (docs/training.md): its gRPC servers listen on every interface
        # and a few agents on the node's address, so token authentication must hold the door.
        ips = {ip for ip, _, _ in probe["listening"]}
        assert ips and ips <= {"127.0.0.1", "0.0.0.0", "::", probe["node_ip"]}, probe["listening"]
        assert probe["bad_token_rc"] != 0 and "InvalidAuthToken" in probe["bad_token_err"], probe["bad_token_err"]
        token = Path(tmp_path) / ".ray" / "auth_token"
        assert token.is_file() and stat.S_IMODE(token.stat().st_mode) == 0o600
        assert not psutil.pid_exists(probe["worker_pid"]) or \
            psutil.Process(probe["worker_pid"]).status() == psutil.STATUS_ZOMBIE
        assert not (Path(temp) / "ray" / "ray_current_cluster").exists()    # no dead node to join later
    finally:
        left = [p for p in psutil.process_iter(["cmdline"]) if temp in " ".join(p.info["cmdline"] or [])]
        for p in left:
            p.kill()
        subprocess.run(["rm", "-rf", temp])
    assert not left, "Ray processes outlived the command"


def test_a_dead_nodes_address_file_does_not_stop_a_local_start(tmp_path):
    """A killed head leaves <ray tmp>/ray_current_cluster behind; a run without RAY_ADDRESS must
    start its own instance, not fail joining the dead one."""
    temp = f"/tmp/ray_d{os.getpid()}"
    Path(temp, "ray").mkdir(parents=True, exist_ok=True)
    Path(temp, "ray", "ray_current_cluster").write_text("127.0.0.1:9")
    env = {**os.environ, **ray_test_env(), "RAY_TMPDIR": temp, "HOME": str(tmp_path)}
    env.pop("RAY_ADDRESS", None)
    code = "import ray; from biggan.parallel.ray_session import ensure_ray; print('MODE', ensure_ray()); ray.shutdown()"
    try:
        r = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                           timeout=180)
        assert r.returncode == 0 and "MODE local" in r.stdout, r.stdout[-2000:] + r.stderr[-3000:]
    finally:
        subprocess.run(["rm", "-rf", temp])
