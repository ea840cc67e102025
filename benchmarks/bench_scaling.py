"""Training cost on this machine: data-parallel scaling (1 vs 2 Ray workers) and per-stage overhead.

    python -m benchmarks.bench_scaling [--res 32] [--ch 16] [--micro 16] [--iterations 40]
                                       [--overhead-repeats 2] [--json out.json]

scaling   Ray Train runs of one small config on digits shards (built into a temp dir at
          --res): 1 worker x 1 thread, 1 worker x 2 threads, 2 workers x 1 thread with the
          same micro-batch per worker (weak scaling: the global batch doubles), and 2 workers
          with the 1-worker global batch (strong scaling). images/s = real images through D
          per second of GAN steps (batch x num_d_steps / step time), from the log windows
          after the first (warm-up). efficiency = images/s(2 workers) / (2 x images/s(1 x 1)).
overhead  wall time of `python -m stages.train` (a fresh process, as DVC runs it, MLflow on
          SQLite) for a 1-iteration run of the tiny 16 px config, per launcher; with the
          per-iteration cost of that config this gives stage wall ~= fixed + iterations x cost.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from biggan.data.layout import SHARDS, shard_dir

TINY = {"resolution": 16, "ch": 4, "dim_z": 12, "shared_dim": 8, "attention": []}


def params_doc(res: int, model: dict, train: dict, variants: dict) -> dict:
    return {"datasets": {"digits": {"source": {"kind": "digits"}, "resolution": res, "workers": 1}},
            "model": {"n_classes": 10, **model},
            "train": {"num_d_steps": 1, "log_every": 5, "sv_every": 10 ** 6, "checkpoint_every": 10 ** 6,
                      "sample_every": 10 ** 6, "evaluate": False, **train},
            "variants": variants}


def build_shards(work: Path, res: int) -> None:
    """Digits training shards at `res` under <work>/data/shards/digits/train (replacing any)."""
    from biggan.config import DatasetConfig
    from biggan.data.shard.build import build_shards as build

    out = shard_dir("digits", "train", work / SHARDS)
    shutil.rmtree(out, ignore_errors=True)
    ds = DatasetConfig.model_validate(params_doc(res, {}, {}, {})["datasets"]["digits"])
    build(ds, "train", out, name="digits", progress=False)


def scaling(work: Path, res: int, ch: int, micro: int, iterations: int) -> list[dict]:
    from biggan.config import parse_params
    from biggan.parallel.ray_session import ensure_ray
    from biggan.train.run import default_data, train

    model = {"resolution": res, "ch": ch, "dim_z": 120 if res >= 32 else 12, "shared_dim": 128, "attention": []}
    runs = {"w1_t1": (1, 1, micro), "w1_t2": (1, 2, micro), "w2_t1": (2, 1, 2 * micro),
            "w2_t1_strong": (2, 1, micro)}
    variants = {name: {"dataset": "digits", "train": {"num_workers": w, "threads_per_worker": t, "batch_size": b}}
                for name, (w, t, b) in runs.items()}
    params = parse_params(params_doc(res, model, {"iterations": iterations, "launcher": "ray",
                                                  "cpus_per_worker": 1}, variants))
    ensure_ray()
    rows = []
    for name, (w, t, b) in runs.items():
        spec = params.run(name, 0)
        out = train(spec, root=work, storage=work / "store", data=default_data(spec, work / SHARDS),
                    tracking=False, log=lambda m: None)
        windows = out.history.losses[1:]
        ips = statistics.mean(r["images_per_s"] for r in windows)
        rows.append({"run": name, "workers": w, "threads": t, "global_batch": b, "micro_batch": b // w,
                     "images_per_s": round(ips, 1), "step_s": round(statistics.mean(r["step_time"] for r in windows), 4),
                     "fit_s": round(out.timing["fit_s"], 1)})
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["images_per_s"]
    for r in rows:
        r["speedup_vs_w1_t1"] = round(r["images_per_s"] / base, 2)
        if r["workers"] == 2:
            r["efficiency"] = round(r["images_per_s"] / (2 * base), 2)
    return rows


def overhead(work: Path, repeats: int) -> list[dict]:
    variants = {"local": {"dataset": "digits", "train": {"launcher": "local", "num_workers": 1}},
                "ray_w1": {"dataset": "digits", "train": {"num_workers": 1}},
                "ray_w2": {"dataset": "digits", "train": {"num_workers": 2}}}
    doc = params_doc(16, {"resolution": 16, **TINY}, {"batch_size": 16, "iterations": 1, "threads_per_worker": 1},
                     variants)
    (work / "params.yaml").write_text(yaml.safe_dump(doc))
    env = dict(os.environ)                     # RAY_TMPDIR / usage stats as set by main()
    env.pop("RAY_ADDRESS", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    rows = []
    for name in variants:
        for i in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "stages.train", "--params", "params.yaml", "--variant", name,
                            "--seed", str(i)], cwd=work, env=env, check=True, capture_output=True)
            wall = time.perf_counter() - t0
            s = json.loads((work / f"metrics/train/{name}-s{i}.json").read_text())
            rows.append({"launcher": name, "repeat": i, "wall_s": round(wall, 2), **s["timing"],
                         "loop_wall_s": s["loop_wall_s"]})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def per_iteration(work: Path, iterations: int) -> dict:
    """Step time of the tiny overhead config, in-process (1 worker, 1 thread)."""
    from biggan.config import parse_params
    from biggan.train.run import default_data, train

    doc = params_doc(16, {"resolution": 16, **TINY}, {"batch_size": 16, "iterations": iterations,
                                                      "threads_per_worker": 1, "launcher": "local",
                                                      "num_workers": 1}, {"t": {"dataset": "digits"}})
    spec = parse_params(doc).run("t", 0)
    out = train(spec, root=work, storage=work / "store", data=default_data(spec, work / SHARDS),
                tracking=False, log=lambda m: None)
    windows = out.history.losses[1:]
    return {"config": "tiny 16px ch4 batch 16", "step_s": round(statistics.mean(r["step_time"] for r in windows), 4),
            "loop_wall_per_iteration_s": round(out.summary["loop_wall_s"] / iterations, 4)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--res", type=int, default=32)
    p.add_argument("--ch", type=int, default=16)
    p.add_argument("--micro", type=int, default=16, help="micro-batch per worker")
    p.add_argument("--iterations", type=int, default=40)
    p.add_argument("--overhead-repeats", type=int, default=2)
    p.add_argument("--skip-scaling", action="store_true")
    p.add_argument("--skip-overhead", action="store_true")
    p.add_argument("--json", help="write all results here")
    a = p.parse_args()
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["RAY_TMPDIR"] = ray_tmp = f"/tmp/ray_b{os.getpid()}"    # short: unix socket paths
    result = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                          "load_avg_start": os.getloadavg()}, "args": vars(a)}
    with tempfile.TemporaryDirectory(prefix="bench_scaling_") as d:
        work = Path(d)
        if not a.skip_overhead:
            build_shards(work, 16)
            result["overhead"] = overhead(work, a.overhead_repeats)
            result["per_iteration"] = per_iteration(work, 40)
        if not a.skip_scaling:
            if a.res != 16 or a.skip_overhead:
                build_shards(work, a.res)
            result["scaling"] = scaling(work, a.res, a.ch, a.micro, a.iterations)
            import ray

            ray.shutdown()
    shutil.rmtree(ray_tmp, ignore_errors=True)
    result["machine"]["load_avg_end"] = os.getloadavg()
    print(json.dumps(result, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
