"""Bad storage settings and an object store lost mid-run, against the real store of the cluster
(tests/cluster/conftest.py): the train stage names the problem before any work, and a run whose
store went away is never reported finished; once the store is back the run resumes from it."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.cluster.test_rehearsal import cluster_env, registered_checkpoint
from tests.pipeline_repo import make_tiny_repo, run_dvc, tiny_params

pytestmark = pytest.mark.cluster

ITERATIONS = 300           # long enough that the store is stopped while the run trains


@pytest.fixture(scope="module")
def shards_repo(tmp_path_factory) -> Path:
    """A tiny repo with its d16 shards built (the train stage's one input when not evaluating)."""
    repo = make_tiny_repo(tmp_path_factory.mktemp("faults") / "repo")
    run_dvc(repo, "repro", "shard@d16")
    return repo


def write_params(repo: Path, root: str) -> None:
    p = tiny_params()
    p["storage"] = {"root": root}
    p["train"].update(launcher="ray", evaluate=False, iterations=ITERATIONS, checkpoint_every=20, sv_every=20,
                      sample_every=ITERATIONS, max_failures=1)
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))


def train(repo: Path, env: dict, **kw) -> subprocess.Popen:
    return subprocess.Popen([str(repo / ".venv/bin/python"), "-m", "stages.train", "--params", "params.yaml",
                             "--variant", "full", "--seed", "0", "--no-tracking"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def finished(repo: Path) -> bool:
    return (repo / "metrics/train/full/s0.json").exists() or (repo / "models/full/s0/G_ema.pt").exists()


def nothing_written(repo: Path) -> bool:
    return not any((repo / d).exists() for d in ("metrics", "models", "checkpoints"))


@pytest.mark.parametrize("case", ["no such bucket", "wrong secret", "no credentials"])
def test_bad_store_settings_are_named_before_any_work(shards_repo, cluster, case):
    env = cluster_env(cluster)
    root = f"s3://{cluster.s3.bucket}/faults"
    if case == "no such bucket":
        root, expect = "s3://no-such-bucket/faults", f"bucket 'no-such-bucket' does not exist at endpoint {cluster.s3.endpoint}"
    elif case == "wrong secret":
        env["AWS_SECRET_ACCESS_KEY"], expect = "wrong", "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    else:
        env.pop("AWS_ACCESS_KEY_ID"), env.pop("AWS_SECRET_ACCESS_KEY")
        expect = f"no credentials for the store at {cluster.s3.endpoint}"
    write_params(shards_repo, root)
    proc = train(shards_repo, env)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 2, out[-3000:]
    assert expect in out.strip().splitlines()[-1], out[-3000:]
    assert cluster.s3.secret_key not in out
    assert nothing_written(shards_repo)


def test_a_store_lost_mid_run_leaves_nothing_finished_and_the_rerun_resumes_from_it(shards_repo, cluster):
    env = cluster_env(cluster)
    write_params(shards_repo, f"s3://{cluster.s3.bucket}/faults")
    proc = train(shards_repo, env)
    deadline = time.monotonic() + 300
    while not registered_checkpoint(cluster, "faults/checkpoints/train", "full-s0-"):
        assert proc.poll() is None, proc.stdout.read()[-4000:]
        assert time.monotonic() < deadline
        time.sleep(0.3)
    cluster.s3.stop()                                   # the store is gone; the run's next checkpoint fails
    try:
        out, _ = proc.communicate(timeout=600)
    finally:
        cluster.s3.start()
    assert proc.returncode == 1, out[-4000:]
    assert not finished(shards_repo), "outputs written for a run that did not finish"
    assert "error: full-s0" in out.strip().splitlines()[-1], out[-3000:]

    proc = train(shards_repo, env)                      # the store is back: resume from its checkpoint
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    s = json.loads((shards_repo / "metrics/train/full/s0.json").read_text())
    assert s["iterations_done"] == ITERATIONS and len(s["resumes"]) >= 1 and s["resumes"][-1] >= 20, s["resumes"]
    iters = [int(r.split(",")[0]) for r in (shards_repo / "metrics/train/full/s0.losses.csv").read_text().splitlines()[1:]]
    assert iters == sorted(set(iters)) and iters[-1] == ITERATIONS
