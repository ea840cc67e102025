"""The cluster rehearsal (issue 27, `make rehearse-cluster`): the tiny pipeline's `dvc repro` on a
two-node Ray cluster, with an object store, a PostgreSQL-backed MLflow server and a DVC remote,
all real and on this machine (tests/cluster/conftest.py).

    storage.root  s3://<bucket>/rehearsal     inputs and Ray Train checkpoints (biggan.storage)
    tracking.uri  http://127.0.0.1:<port>     mlflow server: PostgreSQL + artifacts proxied to the store
    variant full  2 workers, STRICT_SPREAD    one worker per node, cross-replica BatchNorm over both

While `full` trains, the second node is killed (SIGKILL of its raylet and workers: a lost machine)
and brought back; the run resumes from its newest checkpoint in the store, in the same MLflow run.
Then `dvc push` to the same store and `dvc pull` into a second clone at another path: there
`dvc status` is clean and `dvc repro` trains nothing.
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.pipeline_repo import dvc_env, git, make_tiny_repo, tiny_params

pytestmark = pytest.mark.cluster

FULL_ITERATIONS = 160


def rehearsal_params(store: str, mlflow_url: str) -> dict:
    p = tiny_params()
    p["storage"] = {"root": store}
    p["tracking"]["uri"] = mlflow_url
    p["train"].update(launcher="ray", max_failures=3)
    p["variants"]["full"]["train"] = {"num_workers": 2, "iterations": FULL_ITERATIONS, "checkpoint_every": 20,
                                      "eval_every": 80, "sv_every": 20, "sample_every": 160,
                                      "runtime": {"placement": "STRICT_SPREAD"}}
    return p


def cluster_env(cluster) -> dict[str, str]:
    """A user's shell (tests.pipeline_repo.dvc_env) plus the cluster's variables."""
    import os

    return {**dvc_env(), **{k: v for k, v in cluster.env().items() if os.environ.get(k) != v}}


def process_names() -> list[str]:
    names = []
    for p in psutil.process_iter(["name"]):
        names.append(p.info["name"] or "")
    return names


def checkpoints(cluster, prefix: str) -> list[str]:
    from pyarrow.fs import FileSelector

    sel = FileSelector(f"{cluster.s3.bucket}/{prefix}", recursive=True, allow_not_found=True)
    return [i.path for i in cluster.s3.fs().get_file_info(sel)]


def registered_checkpoint(cluster, prefix: str, run: str) -> bool:
    """Ray Train's controller has registered a checkpoint of the run (its snapshot in the store
    names one): a restart resumes from it. An uploaded checkpoint is registered only at the
    controller's next poll of the workers (RAY_TRAIN_HEALTH_CHECK_INTERVAL_S), not at once."""
    for path in checkpoints(cluster, prefix):
        if f"/{run}" in path and path.endswith("checkpoint_manager_snapshot.json"):
            with cluster.s3.fs().open_input_stream(path) as f:
                if b"ckpt_" in f.read():
                    return True
    return False


@pytest.fixture(scope="module")
def rehearsal(cluster, tmp_path_factory):
    """-> (repo, env, log text, what was seen during the run)."""
    store = f"s3://{cluster.s3.bucket}/rehearsal"
    repo = make_tiny_repo(tmp_path_factory.mktemp("rehearsal") / "repo", rehearsal_params(store, cluster.mlflow.url))
    env = cluster_env(cluster)
    log_path = repo.parent / "repro.log"
    seen: dict = {}
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(repo / ".venv/bin/dvc"), "repro"], cwd=repo, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 420
            while not registered_checkpoint(cluster, "rehearsal/checkpoints/train", "full-s0-"):
                assert proc.poll() is None, f"dvc repro ended ({proc.returncode}) before `full` checkpointed:\n" \
                                            f"{log_path.read_text()[-4000:]}"
                assert time.monotonic() < deadline, "no checkpoint of `full` in the store after 420 s"
                time.sleep(0.3)
            names = process_names()
            seen["raylets"], seen["weed"], seen["postgres"] = (names.count("raylet"), names.count("weed"),
                                                               names.count("postgres"))
            seen["killed_at"] = time.monotonic() - t0
            cluster.ray.kill_second()                 # a lost machine, mid-run
            time.sleep(2)
            cluster.ray.start_second()
            proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
    seen["repro_s"] = time.monotonic() - t0
    text = log_path.read_text()
    assert proc.returncode == 0, text[-6000:]
    print(f"\nrehearsal: {seen}")
    return repo, env, text, seen


def summary(repo: Path, variant: str = "full") -> dict:
    return json.loads((repo / f"metrics/train/{variant}/s0.json").read_text())


def test_the_servers_and_both_raylets_were_up_during_the_run(rehearsal):
    _, _, _, seen = rehearsal
    assert seen["raylets"] >= 2 and seen["weed"] >= 1 and seen["postgres"] >= 1


def test_the_two_worker_run_spread_over_both_nodes_and_resumed_from_the_store(rehearsal, cluster, monkeypatch):
    from biggan.train.ray_trainer import starts

    repo, _, _, _ = rehearsal
    for k, v in cluster.s3.env().items():
        monkeypatch.setenv(k, v)
    s = summary(repo)
    assert s["iterations_done"] == FULL_ITERATIONS and len(s["resumes"]) >= 1, s["resumes"]
    lines = starts(f"s3://{cluster.s3.bucket}/rehearsal/checkpoints/train/{s['run_name']}/worker_starts")
    # every start of the group: ranks 0 and 1 on two different nodes (STRICT_SPREAD); at least
    # the first start and the one after the kill
    groups = [lines[i:i + 2] for i in range(0, len(lines), 2)]
    assert len(groups) >= 2 and all(len(g) == 2 for g in groups), lines
    for g in groups:
        assert sorted(x.split(" rank ")[1].split(" pid")[0] for x in g) == ["0 of 2", "1 of 2"], g
        assert len({x.split(" node ")[1].split()[0] for x in g}) == 2, g
    # every worker imported the biggan Ray shipped (the job's working_dir), not a checkout's
    assert all("/runtime_resources/" in x.split(" code ")[1] for x in lines), lines
    iters = [int(r.split(",")[0]) for r in (repo / "metrics/train/full/s0.losses.csv").read_text().splitlines()[1:]]
    assert iters == sorted(set(iters)) and iters[-1] == FULL_ITERATIONS      # continuous, no step twice
    assert all(b - a == iters[1] - iters[0] for a, b in zip(iters, iters[1:]))


def test_mlflow_on_postgresql_holds_every_step_and_the_model_sits_in_the_store(rehearsal, cluster):
    from mlflow import MlflowClient

    repo, _, _, _ = rehearsal
    s = summary(repo)
    client = MlflowClient(cluster.mlflow.url)
    run = client.get_run(s["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "d_loss")]
    csv_steps = [int(r.split(",")[0]) for r in (repo / "metrics/train/full/s0.losses.csv").read_text().splitlines()[1:]]
    assert sorted(set(steps)) == csv_steps                  # the same MLflow run before and after the kill
    with cluster.postgres.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM runs WHERE run_uuid = %s", (run.info.run_id,))
        assert cur.fetchone()[0] == 1
    objects = checkpoints(cluster, "mlflow")
    assert any(run.info.run_id in p for p in objects), "no artifact of the run in the object store"
    assert any("G_ema" in p or "model" in p for p in objects if run.info.run_id in p or "/models/" in p)


def test_no_credential_in_any_log_param_or_tag(rehearsal, cluster):
    from mlflow import MlflowClient

    repo, _, text, _ = rehearsal
    secret = cluster.s3.secret_key
    assert secret not in text
    client = MlflowClient(cluster.mlflow.url)
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id]):
            values = list(run.data.params.values()) + list(run.data.tags.values())
            assert not any(secret in v for v in values), run.info.run_name
    for log in (cluster.ray.tmp).rglob("*"):
        if log.is_file() and log.suffix in (".log", ".out", ".err", ".txt", ".json"):
            assert secret.encode() not in log.read_bytes(), log


def test_dvc_push_then_pull_into_a_second_clone_leaves_nothing_to_run(rehearsal, cluster, tmp_path):
    repo, env, _, _ = rehearsal

    def dvc(where: Path, *args: str) -> str:
        p = subprocess.run([str(where / ".venv/bin/dvc"), *args], cwd=where, env=env, capture_output=True,
                           text=True, timeout=600)
        assert p.returncode == 0, f"dvc {' '.join(args)}: {p.stdout[-3000:]}\n{p.stderr[-3000:]}"
        return p.stdout

    dvc(repo, "remote", "add", "-d", "store", f"s3://{cluster.s3.bucket}/dvc")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "rehearsal results")
    dvc(repo, "push")
    clone = tmp_path / "elsewhere" / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    if not (clone / ".venv").exists():            # the tiny repo commits its .venv link
        (clone / ".venv").symlink_to((repo / ".venv").resolve())
    dvc(clone, "pull")
    assert "up to date" in dvc(clone, "status").lower()
    out = dvc(clone, "repro")
    assert "Running stage" not in out, out
