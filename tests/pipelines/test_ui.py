"""`python -m biggan ui`: the MLflow tracking server on the project's store (resolved from
params.yaml in the working directory), answering a REST run search ordered by FID."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import yaml

from tests.pipeline_repo import REPO_ROOT, tiny_params

pytestmark = pytest.mark.slow


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_store_resolution(tmp_path, monkeypatch):
    from biggan.tracking.ui import resolve_store, server_command

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    store = resolve_store("params.yaml")
    assert store.backend_uri == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert store.artifact_root == (tmp_path.resolve() / "mlruns").as_uri()
    cmd = server_command(store, port=5123)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[cmd.index("--workers") + 1] == "1"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert resolve_store("params.yaml").remote


def test_ui_serves_run_search_ordered_by_fid(tmp_path, free_port):
    from mlflow import MlflowClient

    from biggan.tracking.ui import wait_healthy

    params = tiny_params()
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    uri = f"sqlite:///{tmp_path}/mlflow.db"               # what sqlite:///mlflow.db resolves to there
    client = MlflowClient(uri)
    exp_id = client.create_experiment(params["tracking"]["experiment"])
    for name, fid in [("b", 5.0), ("a", 2.0), ("c", 9.0)]:
        run = client.create_run(exp_id, run_name=name)
        client.log_metric(run.info.run_id, "fid_best", fid)
        client.set_terminated(run.info.run_id)

    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    log = open(tmp_path / "ui.log", "w")
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "biggan", "ui", "--port", str(free_port), "--params",
                             "params.yaml"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{free_port}"
    try:
        wait_healthy(url, proc, timeout_s=90)
        print(f"biggan ui healthy after {time.monotonic() - t0:.1f} s")
        found = _post(url + "/api/2.0/mlflow/runs/search",
                      {"experiment_ids": [exp_id], "order_by": ["metrics.fid_best ASC"]})
        names = [r["info"]["run_name"] for r in found["runs"]]
        assert names == ["a", "b", "c"]
        fids = [next(m["value"] for m in r["data"]["metrics"] if m["key"] == "fid_best") for r in found["runs"]]
        assert fids == [2.0, 5.0, 9.0]
        # the URL is printed once the server is healthy
        deadline = time.monotonic() + 10
        while f"MLflow UI: {url}" not in (tmp_path / "ui.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert f"MLflow UI: {url}" in (tmp_path / "ui.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)                   # the command stops its server
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        log.close()
    assert rc == 0, (tmp_path / "ui.log").read_text()[-3000:]
    with socket.socket() as s:                              # the server is gone with it
        assert s.connect_ex(("127.0.0.1", free_port)) != 0
