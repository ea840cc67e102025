"""Deployments of the retrain flow against a real Prefect server on 127.0.0.1.

* `python -m pipelines.deploy` (.serve(), the quick path in one foreground process).
* prefect.yaml + a process work pool (docs/operations.md's durable path: server and worker detached,
  `prefect --no-prompt deploy --all`, `prefect deployment run --watch` completing, the stop
  sequence) is run literally, as README shows it, by tests/test_readme_commands.py.
The flow is the retrain flow on a repo whose data state is already recorded (so it runs for
real and does nothing: seconds, not minutes)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.pipeline_repo import REPO_ROOT, dvc_env, git, tiny_params

pytestmark = pytest.mark.slow

CRON = "0 3 * * *"
BIN = Path(sys.executable).parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _wait_health(api: str, pid: int, timeout_s: float, log: Path) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        assert _alive(pid), f"prefect server exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(api + "/health", timeout=2) as r:
                if r.read().strip() == b"true":
                    return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{api}/health did not answer in {timeout_s} s:\n{log.read_text()[-3000:]}")


def _detached(cmd: str, env: dict, log: Path, cwd: Path = REPO_ROOT) -> int:
    """Start `cmd` as the README does, `setsid nohup sh -c 'echo $$ > PIDFILE; exec CMD' > LOG
    2>&1 &`, from a bash that exits right away; -> the pid (a session of its own)."""
    pidfile = log.with_suffix(".pid")
    sh = subprocess.run(["bash", "-c", f"setsid nohup sh -c 'echo $$ > {pidfile}; exec {cmd}' > {log} 2>&1 "
                                       "< /dev/null &"], cwd=cwd, env=env, timeout=30)
    assert sh.returncode == 0                     # the creating shell is gone from here on
    deadline = time.monotonic() + 10
    while not pidfile.is_file() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline, f"{pidfile} not written:\n{log.read_text()[-2000:]}"
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    assert os.getsid(pid) == pid != os.getsid(0), "not detached into a session of its own"
    return pid


def _stop(pid: int, sig: int, timeout_s: float = 30) -> None:
    """Signal the process group of a detached process (its pid), then SIGKILL it if needed."""
    if not _alive(pid):
        return
    os.killpg(pid, sig)
    t0 = time.monotonic()
    while _alive(pid) and time.monotonic() - t0 < timeout_s:
        try:
            os.waitpid(pid, os.WNOHANG)          # not our child (bash's): normally ECHILD
        except ChildProcessError:
            pass
        time.sleep(0.2)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)


def _base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DVC_NO_ANALYTICS": "1",
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"})
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A Prefect server on 127.0.0.1, started detached like the README; -> (api url, env, pid)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = tmp_path_factory.mktemp("prefect_server")
    env = _base_env(tmp / "home")
    log = tmp / "server.log"
    pid = _detached(f"{BIN / 'prefect'} server start --host 127.0.0.1 --port {port}", env, log)
    api = f"http://127.0.0.1:{port}/api"
    try:
        print(f"prefect server healthy after {_wait_health(api, pid, 120, log):.1f} s")
        yield api, {**env, "PREFECT_API_URL": api}, pid
    finally:
        _stop(pid, signal.SIGTERM)


@pytest.fixture
def idle_repo(tmp_path):
    """A git + DVC repo with the tiny datasets and its data state already recorded."""
    from pipelines.retrain import record_data_state

    repo = tmp_path / "idle"
    repo.mkdir()
    p = tiny_params()
    (repo / "params.yaml").write_text(yaml.safe_dump({"datasets": p["datasets"], "tracking": p["tracking"]}))
    git(repo, "init", "-q")
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "init", "-q"], cwd=repo, env=dvc_env(), check=True)
    record_data_state(repo)
    return repo


def _artifacts(api: str, flow_run_id) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return {a.key: a.data for a in arts if a.key}


def test_served_deployment_runs_on_demand(server, idle_repo, tmp_path):
    api, env, _ = server
    serve_log = tmp_path / "serve.log"
    serve = subprocess.Popen(
        [sys.executable, "-m", "pipelines.deploy", "--cron", CRON, "--name", "test", "--repo", str(idle_repo)],
        cwd=REPO_ROOT, env={**env, "PYTHONPATH": str(REPO_ROOT), "PREFECT_RUNNER_POLL_FREQUENCY": "2"},
        stdout=open(serve_log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        from prefect.client.orchestration import get_client
        from prefect.deployments import run_deployment
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: api}):
            deadline, dep = time.monotonic() + 90, None
            with get_client(sync_client=True) as client:
                while dep is None:
                    assert serve.poll() is None, f"deploy exited {serve.returncode}:\n{serve_log.read_text()[-3000:]}"
                    assert time.monotonic() < deadline, f"no deployment after 90 s:\n{serve_log.read_text()[-3000:]}"
                    try:
                        dep = client.read_deployment_by_name("retrain/test")
                    except Exception:
                        time.sleep(1)
            assert [s.schedule.cron for s in dep.schedules] == [CRON]
            assert dep.parameters["repo"] == str(idle_repo.resolve())
            fr = run_deployment("retrain/test", timeout=180)       # now, not at 03:00
            assert fr.state.is_completed(), f"{fr.state}:\n{serve_log.read_text()[-4000:]}"
        assert "Nothing to do" in _artifacts(api, fr.id)["retrain-decision"]
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGINT)   # the runner shuts down on SIGINT (pauses the deployment)
            try:
                serve.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
                serve.wait()


def test_deploy_without_a_server_prints_how_to_start_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "home")
    p = subprocess.run([sys.executable, "-m", "pipelines.deploy", "--repo", str(tmp_path)], cwd=REPO_ROOT,
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "prefect server start --host 127.0.0.1 --port 4200" in p.stderr
    assert "PREFECT_API_URL=http://127.0.0.1:4200/api" in p.stderr
