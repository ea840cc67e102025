"""A broken input ends its Ray Train run at once: one worker-group start (counted by the run's
worker_starts.log), one clear last line, exit status 2; the pool's other runs are kept, left out
when they read the same input, trained when they do not. A killed worker still restarts the group
and resumes: tests/train/test_ray_train.py::test_killed_worker_is_survived_and_a_failed_run_resumes."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from biggan.train.errors import InputError, NotStarted
from tests.conftest import REPO_ROOT
from tests.train.fakes import DigitsStream
from tests.train.specs import BASE, RES, tiny_spec

RAY = {"launcher": "ray", "iterations": 10, "checkpoint_every": 10, "max_failures": 2}


def starts(run_dir: Path) -> int:
    """Starts of the run's worker group: rank 0's lines in its worker_starts.log."""
    from biggan.train.ray_trainer import STARTS, starts as lines

    return sum(" rank 0 of " in x for x in lines(str(run_dir / STARTS)))


@pytest.fixture(scope="module")
def digit_shards(tmp_path_factory) -> Path:
    from biggan.config import parse_params
    from biggan.data.shard.build import build_shards

    out = tmp_path_factory.mktemp("digit_shards") / "train"
    ds = parse_params({**BASE, "datasets": {"d16": {**BASE["datasets"]["d16"], "workers": 1}}}).datasets["d16"]
    build_shards(ds, "train", out, name="d16", progress=False)
    return out


def truncate(shard_dir: Path) -> Path:
    """The first shard cut to half its size, as a failed copy or a full disk leaves it."""
    shard = sorted(shard_dir.glob("*.tar"))[0]
    os.truncate(shard, shard.stat().st_size // 2)
    return shard


# ------------------------------------------------------------------------------- no Ray needed

def test_the_failure_policy_raises_input_errors_and_retries_the_rest():
    from ray.train import FailureConfig, WorkerGroupError
    from ray.train.v2._internal.execution.failure_handling import FailureDecision

    from biggan.train.ray_failures import InputErrorsRaise

    policy = InputErrorsRaise(FailureConfig(max_failures=2))
    bad = InputError("corrupt shard x.tar", "rerun the shard stage")
    collateral = RuntimeError("gloo: connection closed by peer")
    assert policy.make_decision(WorkerGroupError("", {0: collateral, 1: bad})) == FailureDecision.RAISE
    assert policy.make_decision(WorkerGroupError("", {0: collateral})) == FailureDecision.RETRY
    assert policy.make_decision(WorkerGroupError("", {1: collateral})) == FailureDecision.RETRY
    assert policy.make_decision(WorkerGroupError("", {0: collateral})) == FailureDecision.RAISE   # 3 > 2


def test_a_corrupt_shard_is_an_input_error_and_an_io_error_is_not(digit_shards, tmp_path):
    from biggan.data.loader import CorruptShardError
    from biggan.train.factories import ShardStream

    shards = tmp_path / "train"
    shutil.copytree(digit_shards, shards)
    shard = truncate(shards)
    with pytest.raises(InputError) as e:
        ShardStream(str(shards), 8, "d16", 10)(0, 1, 0)
    assert str(shard) in str(e.value) and "`dvc repro -f shard@d16`" in str(e.value)
    assert e.value.shared == str(shards) and "\n" not in str(e.value)

    def flaky():                                # how raise_named reports a read that failed
        try:
            raise OSError(5, "Input/output error")
        except OSError as io:
            raise CorruptShardError(f"corrupt shard {shard}: OSError") from io
        yield

    with pytest.raises(CorruptShardError):      # not an InputError: Ray Train retries it
        next(ShardStream(str(shards), 8, "d16", 10)._named(flaky()))


# ------------------------------------------------------------------------------- real Ray


@pytest.mark.slow
def test_truncated_shard_stops_its_run_after_one_start_and_spares_the_others(tmp_path, digit_shards, ray_local):
    """The stage as a user runs it (a process of its own, joining the session's Ray)."""
    raw = {**BASE, "datasets": {"d16": BASE["datasets"]["d16"], "e16": BASE["datasets"]["d16"]},
           "train": {**BASE["train"], **RAY},
           "variants": {"before": {"dataset": "e16"}, "tiny": {"dataset": "d16", "seeds": [0, 1]},
                        "after": {"dataset": "e16"}}}                # --jobs 1: trained in this order
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    for name in ("d16", "e16"):
        shutil.copytree(digit_shards, tmp_path / "data/shards" / name / "train")
    shard = truncate(tmp_path / "data/shards/d16/train")
    env = {**os.environ, "RAY_ADDRESS": ray_local.address, "RAY_AUTH_MODE": "token", "PYTHONPATH": str(REPO_ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    r = subprocess.run([sys.executable, "-m", "stages.train", "--params", "params.yaml", "--all", "--jobs", "1",
                        "--no-tracking"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=500)
    err = r.stderr.splitlines()
    print(f"stderr: {len(err)} lines, stdout: {len(r.stdout.splitlines())} lines")
    assert r.returncode == 2, r.stdout[-3000:] + r.stderr[-3000:]
    last = err[-1]
    assert last.startswith("error: tiny-s0: ") and str(shard) in last, last
    assert "index.json records" in last and "`dvc repro -f shard@d16`" in last, last
    assert any(x.startswith("error: tiny-s1: not started:") for x in err), err[-5:]
    assert "[FailurePolicy]" not in r.stderr and "WorkerGroupError" not in r.stderr

    runs = {p.name.rsplit("-", 1)[0]: p for p in (tmp_path / "checkpoints/train").iterdir()}
    assert starts(runs["tiny-s0"]) == 1                       # no restart of its workers
    assert "tiny-s1" not in runs or starts(runs["tiny-s1"]) == 0
    for kept in ("before", "after"):                          # finished before, started after: on sound shards
        assert starts(runs[f"{kept}-s0"]) == 1 and (runs[f"{kept}-s0"] / "DONE").is_file()
        assert (tmp_path / f"models/{kept}/s0/G_ema.pt").is_file()
        assert (tmp_path / f"metrics/train/{kept}/s0.json").is_file()


@pytest.mark.slow
def test_missing_reference_statistics_in_a_worker_stop_the_run_after_one_start(tmp_path, ray_local):
    """Removed after the driver checked, or absent on the worker's node: rank 0 fails building its
    scorer while rank 1 waits in its first all-reduce; the run still ends at once."""
    from biggan.train.factories import EvalScorer
    from biggan.train.run import run_name, train

    spec = tiny_spec(train={**RAY, "num_workers": 2, "evaluate": True, "eval_every": 10, "eval_samples": 100},
                     eval={"refstats_dir": "refstats", "digits_net": {"out_dir": "feature_net"}})
    scorer = EvalScorer.under(tmp_path, spec.eval, "d16")
    with pytest.raises(InputError) as e:
        train(spec, root=tmp_path, storage=tmp_path / "store", data=DigitsStream(RES, 8), scorer=scorer,
              tracking=False)
    ref = scorer.inputs()[1]
    assert str(ref) in str(e.value) and "`dvc repro feature_net ref_stats@d16`" in str(e.value)
    assert starts(tmp_path / "store" / run_name(spec)) == 1


@pytest.mark.slow
def test_shards_of_another_class_count_stop_the_run_after_one_start(tmp_path, ray_local):
    from biggan.data.shard.build import build_shards
    from biggan.train.run import run_name, train, train_seeds
    from biggan.train.factories import ShardStream
    from tests.data import fakes
    from tests.data.conftest import imagenet_config

    shards = tmp_path / "shards/d16/train"                    # 3 ILSVRC classes where the params say 10
    build_shards(imagenet_config(fakes.make_extracted(tmp_path / "ilsvrc")), "train", shards, name="d16",
                 progress=False)
    spec = tiny_spec(train=RAY)
    data = ShardStream(str(shards), spec.train.micro_batch, "d16", spec.model.n_classes)
    with pytest.raises(InputError) as e:
        train(spec, root=tmp_path, storage=tmp_path / "store", data=data, tracking=False)
    assert "hold 3 classes" in str(e.value) and "model.n_classes is 10" in str(e.value)
    assert "set model.n_classes: 3" in str(e.value)
    assert starts(tmp_path / "store" / run_name(spec)) == 1

    # the pool: the failed run's other seeds read the same shards with the same model: not started
    specs = [tiny_spec(seed=s, train=RAY) for s in (5, 6)]
    out = train_seeds(specs, root=tmp_path, storage=tmp_path / "store", data=lambda s: data, tracking=False,
                      jobs=1)
    assert isinstance(out[0], InputError) and not isinstance(out[0], NotStarted)
    assert isinstance(out[1], NotStarted) and "tiny-s5" in str(out[1])
    assert not (tmp_path / "store" / run_name(specs[1])).exists()
