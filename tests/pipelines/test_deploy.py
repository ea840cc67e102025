"""The scheduled deployment (pipelines.deploy) against a real Prefect server on 127.0.0.1:
served by `python -m pipelines.deploy` in a subprocess, triggered with run_deployment without
waiting for the cron, COMPLETED. The flow is the retrain flow on a repo whose data fingerprint
is already recorded (so it runs for real and does nothing: seconds, not minutes)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from tests.pipeline_repo import REPO_ROOT, dvc_env, git, tiny_params

pytestmark = pytest.mark.slow

CRON = "0 3 * * *"


def _wait_health(url: str, proc: subprocess.Popen, timeout_s: float, log) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        assert proc.poll() is None, f"prefect server exited {proc.returncode}:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.read().strip() == b"true":
                    return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url}/health did not answer in {timeout_s} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen, sig: int, timeout_s: float = 30) -> None:
    """Signal the process group this test started (start_new_session), then kill it if needed."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def idle_repo(tmp_path):
    """A git + DVC repo with the tiny datasets and its data fingerprint already recorded."""
    from pipelines.retrain import data_fingerprint, state_path, write_state

    repo = tmp_path / "idle"
    repo.mkdir()
    p = tiny_params()
    (repo / "params.yaml").write_text(yaml.safe_dump({"datasets": p["datasets"], "tracking": p["tracking"]}))
    git(repo, "init", "-q")
    subprocess.run(["dvc", "init", "-q"], cwd=repo, env=dvc_env(), check=True)
    write_state(state_path(repo), {**data_fingerprint(repo), "recorded_at": "test"})
    return repo


def test_served_deployment_runs_on_demand(tmp_path, free_port, idle_repo):
    api = f"http://127.0.0.1:{free_port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    base.update({"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONPATH": str(REPO_ROOT),
                 "DVC_NO_ANALYTICS": "1"})
    server_log, serve_log = tmp_path / "server.log", tmp_path / "serve.log"
    t0 = time.monotonic()
    server = subprocess.Popen(
        [str(os.path.join(os.path.dirname(sys.executable), "prefect")), "server", "start", "--host", "127.0.0.1",
         "--port", str(free_port)],
        env={**base, "PREFECT_HOME": str(tmp_path / "server_home")}, stdout=open(server_log, "w"),
        stderr=subprocess.STDOUT, start_new_session=True)
    serve = None
    try:
        took = _wait_health(api, server, 120, server_log)
        print(f"prefect server healthy after {took:.1f} s")
        serve = subprocess.Popen(
            [sys.executable, "-m", "pipelines.deploy", "--cron", CRON, "--name", "test", "--repo", str(idle_repo)],
            cwd=REPO_ROOT, env={**base, "PREFECT_API_URL": api, "PREFECT_HOME": str(tmp_path / "serve_home"),
                                "PREFECT_RUNNER_POLL_FREQUENCY": "2"},
            stdout=open(serve_log, "w"), stderr=subprocess.STDOUT, start_new_session=True)

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
            t1 = time.monotonic()
            fr = run_deployment("retrain/test", timeout=180)       # now, not at 03:00
            print(f"deployment run: {fr.state.type} in {time.monotonic() - t1:.1f} s "
                  f"(whole test {time.monotonic() - t0:.1f} s)")
            assert fr.state.is_completed(), f"{fr.state}:\n{serve_log.read_text()[-4000:]}"
            from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

            with get_client(sync_client=True) as client:
                arts = client.read_artifacts(artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[fr.id])))
            assert any(a.key == "retrain-decision" and "Nothing to do" in a.data for a in arts)
    finally:
        if serve is not None:
            _stop(serve, signal.SIGINT)           # the runner shuts down on SIGINT (pauses the deployment)
        _stop(server, signal.SIGTERM)


def test_deploy_without_a_server_prints_how_to_start_one(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "home")
    p = subprocess.run([sys.executable, "-m", "pipelines.deploy", "--repo", str(tmp_path)], cwd=REPO_ROOT,
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "prefect server start --host 127.0.0.1 --port 4200" in p.stderr
    assert "PREFECT_API_URL=http://127.0.0.1:4200/api" in p.stderr
