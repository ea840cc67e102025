"""The reproduce flow: the tiny repo's whole DVC pipeline as Prefect tasks (shared session
run, see conftest.reproduced), a real transient fault retried, streamed stage logs, the
markdown artifacts; and retry policy on a two-stage scratch repo (backoff, no retry of exit 2).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from biggan.report.collect import run_file
from tests.pipeline_repo import dvc_env, git
from tests.pipelines.conftest import FAULT_STAGE, flow_artifacts, flow_logs

pytestmark = pytest.mark.slow


def test_one_dvc_repro_retried_after_the_fault_reproduces_every_stage(reproduced):
    from pipelines.common import dvc_lock, dvc_status

    r = reproduced.result
    assert r["attempts"] == 2                                          # the fault, then the resumed repro
    names = [s["stage"] for s in r["stages"]]
    assert names == list(dvc_lock(reproduced.repo))                   # every stage, dvc.lock's order
    assert FAULT_STAGE in names and "tables" in names and any(n.startswith("shard@") for n in names)
    assert {s["status"] for s in r["stages"]} == {"reproduced"}, r["stages"]   # a fresh repo
    assert not (reproduced.repo / ".faults" / FAULT_STAGE).exists()
    assert dvc_status(reproduced.repo) == {}                           # DVC agrees that everything is done
    print(f"reproduce: {reproduced.seconds:.1f} s")


def test_dvc_output_is_streamed_into_the_task_logs(reproduced):
    logs = flow_logs(reproduced.flow_run_id)
    text = "\n".join(logs)
    assert f"[dvc] injected transient fault in {FAULT_STAGE}" in text
    assert re.search(r"Retry 1/2 will start 1(\.0)? second", text), "no retry message in the log"
    assert "dvc repro: attempt 2, resuming from dvc.lock" in text
    assert re.search(r"attempt 1 finished \d+ stage\(s\)", text) and "attempt 2 finished" in text
    # the train stage's own summary line, live from its subprocess
    assert any(m.startswith("[dvc] ") and "full-s0: 20 iterations" in m for m in logs)
    assert "[dvc] Running stage 'tables':" in text


def test_tables_are_markdown_artifacts_with_mlflow_run_links(reproduced):
    arts = flow_artifacts(reproduced.flow_run_id)
    assert {"table1", "table2", "table3", "reproduce-stages"} <= set(arts)
    repo = reproduced.repo
    run_full = json.loads(run_file(repo / "metrics/train", "full", 0).read_text())["mlflow_run_id"]
    run_jft = json.loads(run_file(repo / "metrics/train", "jft", 0).read_text())["mlflow_run_id"]
    for n in (1, 2, 3):
        table = (repo / "results" / f"table{n}.md").read_text().strip()
        assert arts[f"table{n}"].startswith(table)
        assert "### MLflow runs" in arts[f"table{n}"]
    # variants of each table (tiny params: full -> tables 1, 2; jft -> table 3); no UI URL: run id + store
    store = f"sqlite:///{repo.resolve()}/mlflow.db"
    assert f"`{run_full}` in `{store}`" in arts["table1"] and run_jft not in arts["table1"]
    assert f"`{run_full}` in `{store}`" in arts["table2"]
    assert f"`{run_jft}` in `{store}`" in arts["table3"] and run_full not in arts["table3"]
    assert "| digits_manifest | reproduced |" in arts["reproduce-stages"]
    assert "One `dvc repro`: 2 attempt(s)" in arts["reproduce-stages"]


def test_links_use_the_ui_url_when_known(reproduced):
    from mlflow import MlflowClient

    from pipelines.common import read_params
    from pipelines.reproduce import links_markdown, run_links

    repo = reproduced.repo
    rows = run_links(repo, read_params(repo), ["full"], mlflow_ui_url="http://127.0.0.1:5000/")
    run_id = json.loads(run_file(repo / "metrics/train", "full", 0).read_text())["mlflow_run_id"]
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
    """git + DVC repo with `flaky` (fails twice, then works) and `bad` after it (always exits 2)."""
    repo = tmp_path / "scratch"
    repo.mkdir()
    (repo / "flaky.py").write_text(FLAKY)
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "flaky": {"cmd": "python flaky.py", "deps": ["flaky.py"], "outs": ["out.txt"]},
        "bad": {"cmd": "python -c \"import sys; print('error: bad params'); sys.exit(2)\"", "deps": ["out.txt"]},
    }}))
    git(repo, "init", "-q")
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "init", "-q"], cwd=repo, env=dvc_env(), check=True)
    return repo


def test_retries_back_off_and_resume_from_the_failed_stage(prefect_harness, scratch_repo):
    from pipelines.reproduce import ReproFailed, reproduce

    state = reproduce(repo=str(scratch_repo), retries=3, retry_delay_s=0.2, return_state=True)
    assert state.is_failed()
    with pytest.raises(ReproFailed, match="exit 255"):
        state.result()
    # attempts 1, 2: flaky fails; 3: flaky works (dvc.lock written), bad fails;
    # 4: resumes at bad, flaky is not rerun
    assert (scratch_repo / "attempts.txt").read_text() == "3"
    text = "\n".join(flow_logs(str(state.state_details.flow_run_id)))
    assert re.search(r"Retry 1/3 will start 0\.2 second", text)
    assert re.search(r"Retry 2/3 will start 0\.4 second", text)          # exponential
    assert "attempt 3 finished 1 stage(s): flaky" in text and "attempt 4 finished 0 stage(s)" in text
    assert "[dvc] error: bad params" in text
    arts = flow_artifacts(str(state.state_details.flow_run_id))
    assert "| flaky | reproduced |" in arts["reproduce-stages"] and "| bad | pending |" in arts["reproduce-stages"]


def test_an_unknown_target_fails_before_any_attempt(prefect_harness, scratch_repo):
    from pipelines.reproduce import reproduce

    state = reproduce(repo=str(scratch_repo), targets=["no-such-stage"], return_state=True)
    assert state.is_failed()
    with pytest.raises(RuntimeError, match="dvc status in .* failed"):
        state.result()
    assert not (scratch_repo / "attempts.txt").exists()
