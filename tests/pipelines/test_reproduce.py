"""The reproduce flow: the tiny repo's whole DVC pipeline as Prefect tasks (shared session
run, see conftest.reproduced), a real transient fault retried, streamed stage logs, the
markdown artifacts; and retry policy on a two-stage scratch repo (backoff, no retry of exit 2).
"""
from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from tests.pipeline_repo import dvc_env, git, run_dvc
from tests.pipelines.conftest import FAULT_STAGE, flow_artifacts, flow_logs

pytestmark = pytest.mark.slow


def test_runs_every_stage_in_dependency_order_and_retries_the_fault(reproduced):
    from pipelines.reproduce import stage_order

    stages = reproduced.result["stages"]
    names = [s["stage"] for s in stages]
    assert names == stage_order(reproduced.repo)
    assert names[0] == FAULT_STAGE and names[-1] == "tables"
    for upstream, downstream in [("shard@d16-train", "ref_stats@d16"), ("train@full-0", "sweep@full-0"),
                                 ("sweep@jft-0", "tables"), ("feature_net", "train@full-0")]:
        assert names.index(upstream) < names.index(downstream)
    assert all(s["status"] == "ran" for s in stages), stages          # a fresh repo: everything runs
    attempts = {s["stage"]: s["attempts"] for s in stages}
    assert attempts.pop(FAULT_STAGE) == 2                              # failed once, retried
    assert set(attempts.values()) == {1}
    assert not (reproduced.repo / ".faults" / FAULT_STAGE).exists()
    # DVC agrees that everything is done
    assert "up to date" in run_dvc(reproduced.repo, "status").stdout
    print(f"reproduce: {reproduced.seconds:.1f} s")


def test_stage_output_is_streamed_into_the_task_logs(reproduced):
    logs = flow_logs(reproduced.flow_run_id)
    text = "\n".join(logs)
    assert f"[{FAULT_STAGE}] injected transient fault in {FAULT_STAGE}" in text
    assert re.search(r"Retry 1/2 will start 1(\.0)? second", text), "no retry message in the log"
    assert f"stage {FAULT_STAGE}: attempt 2" in text
    # the train stage's own summary line, live from its subprocess
    assert any(m.startswith("[train@full-0] full-s0: 20 iterations") for m in logs)
    assert "[tables] Running stage 'tables':" in text


def test_tables_are_markdown_artifacts_with_mlflow_run_links(reproduced):
    arts = flow_artifacts(reproduced.flow_run_id)
    assert {"table1", "table2", "table3", "reproduce-stages"} <= set(arts)
    repo = reproduced.repo
    run_full = json.loads((repo / "metrics/train/full-s0.json").read_text())["mlflow_run_id"]
    run_jft = json.loads((repo / "metrics/train/jft-s0.json").read_text())["mlflow_run_id"]
    for n in (1, 2, 3):
        table = (repo / "results" / f"table{n}.md").read_text().strip()
        assert arts[f"table{n}"].startswith(table)
        assert "### MLflow runs" in arts[f"table{n}"]
    # variants of each table (tiny params: full -> tables 1, 2; jft -> table 3); no UI URL: run id + store
    store = f"sqlite:///{repo.resolve()}/mlflow.db"
    assert f"`{run_full}` in `{store}`" in arts["table1"] and run_jft not in arts["table1"]
    assert f"`{run_full}` in `{store}`" in arts["table2"]
    assert f"`{run_jft}` in `{store}`" in arts["table3"] and run_full not in arts["table3"]
    assert "| digits_manifest | ran | 2 |" in arts["reproduce-stages"]


def test_links_use_the_ui_url_when_known(reproduced):
    from mlflow import MlflowClient

    from pipelines.common import read_params
    from pipelines.reproduce import links_markdown, run_links

    repo = reproduced.repo
    rows = run_links(repo, read_params(repo), ["full"], mlflow_ui_url="http://127.0.0.1:5000/")
    run_id = json.loads((repo / "metrics/train/full-s0.json").read_text())["mlflow_run_id"]
    exp = MlflowClient(f"sqlite:///{repo}/mlflow.db").get_run(run_id).info.experiment_id
    assert [r["url"] for r in rows] == [f"http://127.0.0.1:5000/#/experiments/{exp}/runs/{run_id}"]
    assert f"[{run_id}](http://127.0.0.1:5000/#/experiments/{exp}/runs/{run_id})" in links_markdown(rows)


FLAKY = '''\
import sys
from pathlib import Path
count = Path("attempts.txt")
n = int(count.read_text()) + 1 if count.exists() else 1
count.write_text(str(n))
if n < 3:
    print(f"flaky attempt {n}: failing", flush=True)
    sys.exit(1)
Path("out.txt").write_text("ok")
'''


@pytest.fixture
def scratch_repo(tmp_path):
    """git + DVC repo with `flaky` (fails twice, then works) and `bad` (exits 2: bad params)."""
    repo = tmp_path / "scratch"
    repo.mkdir()
    (repo / "flaky.py").write_text(FLAKY)
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "flaky": {"cmd": "python flaky.py", "deps": ["flaky.py"], "outs": ["out.txt"]},
        "bad": {"cmd": "python -c \"import sys; print('error: bad params'); sys.exit(2)\"", "deps": ["out.txt"]},
    }}))
    git(repo, "init", "-q")
    subprocess.run(["dvc", "init", "-q"], cwd=repo, env=dvc_env(), check=True)
    return repo


def test_backoff_retries_transient_and_not_permanent_failures(prefect_harness, scratch_repo):
    from pipelines.reproduce import PermanentStageError, reproduce, retry_delays

    assert retry_delays(3, 10) == [10, 20, 40]
    state = reproduce(repo=str(scratch_repo), retries=2, retry_delay_s=0.2, return_state=True)
    assert state.is_failed()
    with pytest.raises(PermanentStageError, match="exited with 2"):
        state.result()
    assert (scratch_repo / "attempts.txt").read_text() == "3"          # 2 failures + 1 success
    text = "\n".join(flow_logs(str(state.state_details.flow_run_id)))
    assert re.search(r"Retry 1/2 will start 0\.2 second", text)
    assert re.search(r"Retry 2/2 will start 0\.4 second", text)          # exponential
    assert "[bad] error: bad params" in text
    assert "stage bad: attempt 2" not in text                          # exit 2 is not retried
