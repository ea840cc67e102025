"""Fixtures of the pipeline-flow tests (real Prefect, DVC and MLflow; nothing mocked).

prefect_harness  (session) Prefect's test harness: a temporary API server and fresh DB for
                 the session, PREFECT_HOME in a temp dir, analytics off and a generous
                 ephemeral start-up timeout (first start with migrations took ~20 s on the
                 2-core box; the default is 20 s).
tiny_repo        (session) tests.pipeline_repo's tiny copy of this repository, with a real
                 injected transient fault: its digits_manifest command runs
                 `python fault_once.py digits_manifest` first, which fails (exit 1) once
                 while the marker file .faults/digits_manifest exists, removing it.
reproduced       (session) ONE run of the reproduce flow on tiny_repo (the whole DVC pipeline,
                 one `dvc repro`, retried once after the fault), shared by the reproduce and
                 retrain tests.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pipeline_repo import git, make_tiny_repo

FAULT_STAGE = "digits_manifest"
FAULT_SCRIPT = '''\
"""Injected transient fault (tests/pipelines): fail once per marker file .faults/<name>."""
import sys
from pathlib import Path

marker = Path(".faults") / sys.argv[1]
if marker.exists():
    marker.unlink()
    print(f"injected transient fault in {sys.argv[1]} (marker removed)", flush=True)
    sys.exit(1)
'''
PREFECT_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
               "DVC_NO_ANALYTICS": "1", "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect_home")
    env = {**PREFECT_ENV, "PREFECT_HOME": str(home)}
    saved = {k: os.environ.get(k) for k in (*env, "MLFLOW_TRACKING_URI", "PREFECT_API_URL")}
    os.environ.update(env)
    os.environ.pop("MLFLOW_TRACKING_URI", None)      # the repos' own sqlite stores
    os.environ.pop("PREFECT_API_URL", None)
    from prefect.settings import (PREFECT_HOME, PREFECT_SERVER_ANALYTICS_ENABLED,
                                  PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, temporary_settings)
    from prefect.testing.utilities import prefect_test_harness

    try:
        with temporary_settings({PREFECT_HOME: home, PREFECT_SERVER_ANALYTICS_ENABLED: False,
                                 PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 120}):
            with prefect_test_harness(server_startup_timeout=120):
                yield home
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def inject_fault(repo: Path, stage: str) -> Path:
    """Prefix `stage`'s command in dvc.yaml with the fault script; arm it; commit."""
    (repo / "fault_once.py").write_text(FAULT_SCRIPT)
    dvc_yaml = repo / "dvc.yaml"
    text = dvc_yaml.read_text()
    old = re.compile(rf"cmd: (\S+) -m stages\.{stage} ")          # `python` or `${py}`
    assert len(old.findall(text)) == 1, f"{old.pattern!r} not found once in {dvc_yaml}"
    dvc_yaml.write_text(old.sub(lambda m: f"cmd: {m[1]} fault_once.py {stage} && {m[1]} -m stages.{stage} ", text))
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", "dvc.yaml", "fault_once.py")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "inject a transient fault")
    marker = repo / ".faults" / stage
    marker.parent.mkdir(exist_ok=True)
    marker.write_text("fail once\n")
    return marker


@pytest.fixture(scope="session")
def tiny_repo(tmp_path_factory) -> Path:
    repo = make_tiny_repo(tmp_path_factory.mktemp("pipelines") / "repo")
    inject_fault(repo, FAULT_STAGE)
    return repo


@dataclass
class Reproduced:
    repo: Path
    state: object           # the flow's final Prefect state
    result: dict
    flow_run_id: str
    seconds: float


@pytest.fixture(scope="session")
def reproduced(prefect_harness, tiny_repo) -> Reproduced:
    from pipelines.reproduce import reproduce

    t0 = time.monotonic()
    state = reproduce(repo=str(tiny_repo), retries=2, retry_delay_s=1.0, return_state=True)
    seconds = time.monotonic() - t0
    print(f"reproduce flow on the tiny repo: {seconds:.1f} s")
    assert state.is_completed(), f"reproduce flow ended {state.type}: {state.message}"
    return Reproduced(tiny_repo, state, state.result(), str(state.state_details.flow_run_id), seconds)


def flow_logs(flow_run_id: str) -> list[str]:
    """Every log message of a flow run (its tasks' included), after flushing the log worker."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)
    out: list[str] = []
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
                                    limit=200, offset=len(out))
            out += [log.message for log in page]
            if len(page) < 200:
                return out


def flow_artifacts(flow_run_id: str) -> dict[str, str]:
    """key -> markdown of the artifacts a flow run (or its tasks) created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return {a.key: a.data for a in arts if a.key}
