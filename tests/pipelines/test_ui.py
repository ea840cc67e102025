"""`python -m biggan ui`: MLflow's own server on the project's store (resolved from params.yaml in
the working directory), bound to 127.0.0.1, answering a REST run search ordered by FID; the
experiment opens on its runs table and the printed link opens the comparison view."""
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

from tests.browser import chromium, needs_chromium
from tests.pipeline_repo import REPO_ROOT, tiny_params
from tests.tracking.server import wait_healthy

pytestmark = pytest.mark.slow


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_server_command(tmp_path):
    from biggan.tracking.ui import server_command

    cmd = server_command(f"sqlite:///{tmp_path}/mlflow.db", port=5123)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[cmd.index("--workers") + 1] == "1"
    assert cmd[cmd.index("--default-artifact-root") + 1] == (tmp_path / "mlruns").as_uri()
    assert "--default-artifact-root" not in server_command("postgresql://db/x")


def _runs(uri: str, experiment: str) -> str:
    """Three finished runs of two variants, created as the train stage creates them."""
    from mlflow import MlflowClient

    from biggan.tracking.mlflow_run import open_run

    client = MlflowClient(uri)
    for name, variant, fid in [("b-s0", "b", 5.0), ("a-s0", "a", 2.0), ("c-s0", "c", 9.0)]:
        run_id, _ = open_run(uri, experiment, name, {"variant": variant, "seed": 0}, {})
        client.log_metric(run_id, "sweep_fid_untruncated", fid)
        client.log_metric(run_id, "fid_best", fid)
        client.set_terminated(run_id)
    return client.get_experiment_by_name(experiment).experiment_id


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """`python -m biggan ui` on a store with three runs -> (url, experiment id, its log file)."""
    tmp_path = tmp_path_factory.mktemp("ui")
    params = tiny_params()
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    uri = f"sqlite:///{tmp_path}/mlflow.db"               # what sqlite:///mlflow.db resolves to there
    exp_id = _runs(uri, params["tracking"]["experiment"])
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(tmp_path / "ui.log", "w")
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "biggan", "ui", "--port", str(port), "--params",
                             "params.yaml"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, timeout_s=90)
        print(f"biggan ui healthy after {time.monotonic() - t0:.1f} s")
        yield url, exp_id, tmp_path / "ui.log"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)               # the server is MLflow's: stop its group
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) != 0:
                    break
            time.sleep(0.5)


def _link(url: str, exp_id: str) -> str:
    return f"{url}/#/experiments/{exp_id}/runs?workflowType=machine_learning&viewStateShareKey=table2"


def test_ui_serves_the_store_and_prints_the_comparison_link(ui):
    url, exp_id, log = ui
    found = _post(url + "/api/2.0/mlflow/runs/search",
                  {"experiment_ids": [exp_id], "order_by": ["metrics.sweep_fid_untruncated ASC"]})
    assert [r["info"]["run_name"] for r in found["runs"]] == ["a-s0", "b-s0", "c-s0"]
    with urllib.request.urlopen(f"{url}/api/2.0/mlflow/experiments/get?experiment_id={exp_id}", timeout=10) as r:
        exp = json.loads(r.read())["experiment"]
    tags = {t["key"]: t["value"] for t in exp["tags"]}
    assert tags["mlflow.experimentKind"] == "custom_model_development"      # not the GenAI overview
    view = json.loads(tags["mlflow.sharedViewState.table2"])
    assert view["groupBy"]["groupByKeys"] == [{"groupByData": "variant", "mode": "tag"}]
    assert _link(url, exp_id) in log.read_text()


@needs_chromium
def test_comparison_link_in_a_headless_browser(ui, tmp_path):
    """Headless chromium on the printed link: the runs table grouped by variant, groups in FID
    order, not the GenAI overview; the screenshot is kept beside the test's files."""
    url, exp_id, _ = ui
    link, png = _link(url, exp_id), tmp_path / "runs.png"
    r = chromium(link, "--window-size=1600,900", f"--screenshot={png}", budget_ms=20000)
    assert png.is_file() and png.stat().st_size > 10_000, r.stderr[-2000:]
    dom = chromium(link, "--dump-dom", budget_ms=20000).stdout
    assert "Group by: variant" in dom and "Sort: sweep_fid_untruncated" in dom, dom[-3000:]
    assert -1 < dom.index("Group: a") < dom.index("Group: b") < dom.index("Group: c")
    assert "a-s0" in dom and "Overview" not in dom
