"""Issue 27: on a cluster a sweep's Ray task reads no path of the launching machine. With params
`storage.root` (here a shared-filesystem path under tmp_path) each job's params file, model folder
and evaluation inputs are copied to the store and the job handed to Ray names only their URLs;
the scores are byte for byte the pool's. Without a storage root, a one-node cluster gets
absolute paths (a Ray task's working directory is not the stage's)."""
import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import yaml

from biggan.sampling.executors import for_cluster
from biggan.sampling.jobs import SweepJob, plan
from tests.sampling.conftest import write_model_dir, write_params
from tests.sampling.test_sweep_ray import sweep, without_timing


def strings(value) -> list[str]:
    """Every string in a job: its fields, and its eval config's values, recursively."""
    if dataclasses.is_dataclass(value):
        return strings([getattr(value, f.name) for f in dataclasses.fields(value)])
    if hasattr(value, "model_dump"):
        return strings(value.model_dump())
    if isinstance(value, dict):
        return strings(list(value.values()))
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def with_store(params: str, root: Path) -> str:
    doc = yaml.safe_load(Path(params).read_text())
    Path(params).write_text(yaml.safe_dump({**doc, "storage": {"root": str(root)}}))
    return params


@pytest.mark.slow
def test_ray_tasks_read_their_inputs_from_the_store(tmp_path, model_dir, eval_root, ray_local, capfd, monkeypatch):
    eval_dir, section = eval_root
    monkeypatch.chdir(tmp_path)                                      # relative paths, as in `make repro`
    shutil.copytree(eval_dir, "eval")
    section = {**section, "digits_net": {**section["digits_net"], "out_dir": "eval/feature_net"},
               "refstats_dir": "eval/refstats"}
    store = tmp_path / "store"
    store.mkdir()
    params = write_params(tmp_path / "params.yaml", section, sweep={"thresholds": [1.0, 0.5], "num_samples": 100},
                          variants={"tiny": {"dataset": "d16", "seeds": [0, 1]}, "gone": {"dataset": "d16"}})
    shutil.copytree(model_dir, "models/tiny/s0")
    write_model_dir(Path("models/tiny/s1"), seed=1)
    code, pool_out, pool_scores = sweep(Path("."), "params.yaml", "models", "pool", "--executor", "pool", "--jobs", "1")
    pool_log = capfd.readouterr()
    with_store(params, store)
    code_ray, ray_out, ray_scores = sweep(Path("."), "params.yaml", "models", "ray", "--executor", "ray")
    ray_log = capfd.readouterr()

    assert (code, code_ray) == (2, 2)                                # "gone" was never trained
    assert "as Ray tasks" in ray_log.out
    for log in (pool_log, ray_log):
        assert "generator weights not found: models/gone/s0/G_ema.pt" in log.err
    for seed in (0, 1):
        assert (ray_out / "tiny" / f"s{seed}.csv").read_bytes() == (pool_out / "tiny" / f"s{seed}.csv").read_bytes()
        ray_s, pool_s = (json.loads((o / "tiny" / f"s{seed}.json").read_text()) for o in (ray_out, pool_out))
        assert without_timing(ray_s) == without_timing(pool_s) and ray_s["model_dir"] == f"models/tiny/s{seed}"
    assert (ray_scores / "sweep" / "tiny.json").read_bytes() == (pool_scores / "sweep" / "tiny.json").read_bytes()
    assert {p.name for p in (store / "inputs").glob("*/s[01]")} == {"s0", "s1"}       # the models, copied

    # the jobs as Ray got them: every string is a URL under the store, or no path at all
    jobs = [for_cluster(j, str(store)) for j in plan("params.yaml", ["tiny"], None, models="models")]
    for job in jobs:
        assert job.params.startswith(f"{store}/inputs/") and job.model_dir.startswith(f"{store}/inputs/")
        for s in strings(job):
            assert s.startswith(f"{store}/") or ("/" not in s and not Path(s).exists()), (job.name, s)
    assert jobs[0].model_dir != jobs[1].model_dir

    # a storage root that is not there: refused before any task, naming it
    with_store(params, tmp_path / "not-mounted")
    code, out, _ = sweep(Path("."), "params.yaml", "models", "missing-store", "--executor", "ray")
    err = capfd.readouterr().err
    assert code == 2 and f"storage.root {tmp_path / 'not-mounted'} does not exist" in err and not out.exists()


def test_without_a_store_a_one_node_job_names_absolute_paths(tmp_path, model_dir, eval_root, monkeypatch):
    eval_dir, section = eval_root
    monkeypatch.chdir(tmp_path)
    shutil.copytree(eval_dir, "eval")
    section = {**section, "digits_net": {**section["digits_net"], "out_dir": "eval/feature_net"},
               "refstats_dir": "eval/refstats"}
    write_params(tmp_path / "params.yaml", section)
    shutil.copytree(model_dir, "models/tiny/s0")
    job = for_cluster(SweepJob("params.yaml", "tiny", 0), None)
    assert job.params == str(tmp_path / "params.yaml") and job.model_dir == str(tmp_path / "models/tiny/s0")
    assert job.eval.refstats_dir == str(tmp_path / "eval/refstats")
    assert job.eval.digits_net.out_dir == str(tmp_path / "eval/feature_net")
    with pytest.raises(FileNotFoundError, match="generator weights not found: models/tiny/s1/G_ema.pt"):
        for_cluster(SweepJob("params.yaml", "tiny", 1), None)
