"""Issue 28.2: on a Ray cluster the sweep's models run as Ray tasks (here a real local instance,
CPU only: num_gpus=0) and score exactly as the process pool does; a bad input in one task is
reported like the pool reports it, and `auto` keeps the pool on a one-node cluster without GPUs.
`--device auto` (the default) scores on the CPU here: the same numbers as `--device cpu`."""
import json
import shutil

import pytest

from stages import sweep as sweep_stage
from tests.sampling.conftest import write_model_dir, write_params


def sweep(tmp_path, params, models, name, *extra):
    out, scores = tmp_path / name / "sweep", tmp_path / name / "scores"
    code = sweep_stage.main(["--params", params, "--all", "--models", str(models), "--out", str(out),
                             "--scores", str(scores), "--no-progress", *extra])
    return code, out, scores


def without_timing(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in ("timing", "wall_s")}


@pytest.mark.slow
def test_ray_tasks_score_as_the_process_pool(tmp_path, model_dir, eval_root, ray_local, capfd):
    _, section = eval_root
    params = write_params(tmp_path / "params.yaml", section, sweep={"thresholds": [1.0, 0.5], "num_samples": 100},
                          variants={"tiny": {"dataset": "d16", "seeds": [0, 1]}, "gone": {"dataset": "d16"}})
    models = tmp_path / "models"
    shutil.copytree(model_dir, models / "tiny" / "s0")
    write_model_dir(models / "tiny" / "s1", seed=1)                 # "gone" was never trained

    code, pool_out, pool_scores = sweep(tmp_path, params, models, "pool", "--executor", "pool", "--jobs", "2")
    pool_log = capfd.readouterr()
    code_ray, ray_out, ray_scores = sweep(tmp_path, params, models, "ray", "--executor", "ray")
    ray_log = capfd.readouterr()
    assert (code, code_ray) == (2, 2)
    assert "in a process pool" in pool_log.out and "as Ray tasks (CPU only each)" in ray_log.out
    for log in (pool_log, ray_log):
        assert str(models / "gone" / "s0" / "G_ema.pt") in log.err and "stages.train" in log.err
    for seed in (0, 1):
        assert (ray_out / "tiny" / f"s{seed}.csv").read_text() == (pool_out / "tiny" / f"s{seed}.csv").read_text()
        ray_s, pool_s = (json.loads((o / "tiny" / f"s{seed}.json").read_text()) for o in (ray_out, pool_out))
        assert without_timing(ray_s) == without_timing(pool_s) and ray_s["seed"] == seed
    s0, s1 = (json.loads((ray_out / "tiny" / f"s{s}.json").read_text()) for s in (0, 1))
    assert s0["no_trunc"]["fid"] != s1["no_trunc"]["fid"]           # two models, not one swept twice
    assert (ray_scores / "sweep" / "tiny.json").read_text() == (pool_scores / "sweep" / "tiny.json").read_text()
    assert not (ray_scores / "sweep" / "gone.json").exists() and not (ray_out / "gone").exists()

    # executor auto: a Ray session on one node without GPUs gains nothing over the pool, which it keeps;
    # device auto (the runs above) on a machine without CUDA is the CPU: today's `--device cpu` scores
    code, auto_out, _ = sweep(tmp_path, params, models, "auto", "--jobs", "1", "--device", "cpu")
    assert code == 2 and "in a process pool" in capfd.readouterr().out
    assert (auto_out / "tiny" / "s1.csv").read_text() == (pool_out / "tiny" / "s1.csv").read_text()
