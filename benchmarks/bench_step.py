"""CPU time of one BigGAN training iteration (num_d_steps D steps + 1 G step + EMA).

    python -m benchmarks.bench_step --res 32 128 --ch 32 --batch 8 --threads 1 --precision fp32
    python -m benchmarks.bench_step --variant t1_b16_ch4_ortho t1_b16_ch6_ortho   # params.yaml rows
    python -m benchmarks.bench_step --variant t1_b16_ch6_ortho --profile          # op table

`--res` configurations: the paper's ImageNet-style model at ch `--ch`, dim_z 120,
shared_dim 128, 2 D steps per G step, ortho reg, EMA from iteration 0 (attention at 64 and
1000 classes from 128 px on, none and 10 classes below). `--variant` takes a row of the
params file instead, with its own model, batch, D steps, ortho and EMA settings.
Each configuration runs in a fresh process (thread count is fixed at start-up); the median
of `--iters` timed iterations after `--warmup` is reported, as wall time and as process CPU
time (steadier when other processes share the cores). `--rounds N` repeats the whole
list N times, interleaved, so that load from other processes spreads over all rows.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def configs(res: int | None, ch: int, batch: int, precision: str, variant: str | None, params: str):
    from biggan.config.model import ModelConfig
    from biggan.config.params import load_params
    from biggan.config.train import EMAConfig, TrainConfig

    if variant is not None:
        spec = load_params(params).run(variant, 0)
        tcfg = spec.train.model_copy(update={"precision": precision, "num_workers": 1})
        return spec.model, tcfg
    big = res >= 128
    mcfg = ModelConfig(resolution=res, ch=ch, dim_z=120, n_classes=1000 if big else 10,
                       shared_dim=128, attention=[64] if big else [])
    tcfg = TrainConfig(batch_size=batch, num_workers=1, num_d_steps=2, precision=precision,
                       ema=EMAConfig(decay=0.9999, start=0))
    return mcfg, tcfg


def build_step(mcfg, tcfg):
    from biggan.ema import EMA
    from biggan.models import build_discriminator, build_generator
    from biggan.train.step import GANStep, infinite, make_optimizers

    G, D = build_generator(mcfg), build_discriminator(mcfg)
    opt_g, opt_d = make_optimizers(G, D, tcfg)
    ema = EMA(G, tcfg.ema.decay, tcfg.ema.start, tcfg.ema.buffers) if tcfg.ema.enabled else None
    step = GANStep(G, D, opt_g, opt_d, mcfg, tcfg, ema=ema)
    b, r = tcfg.micro_batch, mcfg.resolution
    x = torch.rand(b, 3, r, r) * 2 - 1
    y = torch.randint(0, mcfg.n_classes, (b,))
    return step, infinite(lambda: (x, y))


def run_one(a: argparse.Namespace) -> dict:
    torch.set_num_threads(a.threads[0])
    torch.manual_seed(0)
    variant = a.variant[0] if a.variant else None
    mcfg, tcfg = configs(a.res[0], a.ch, a.batch, a.precision[0], variant, a.params)
    step, real = build_step(mcfg, tcfg)
    for i in range(a.warmup):
        step(real, i)
    if a.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for i in range(a.iters):
                step(real, a.warmup + i)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.profile_rows), file=sys.stderr)
        print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=a.profile_rows), file=sys.stderr)
    times, cpu = [], []
    for i in range(a.iters):
        c = time.process_time()
        times.append(step(real, a.warmup + i)["step_time"])
        cpu.append(time.process_time() - c)
    name = variant or f"{mcfg.resolution}px ch{mcfg.ch}"
    return {"config": name, "res": mcfg.resolution, "ch": mcfg.ch, "batch": tcfg.batch_size,
            "d_steps": tcfg.num_d_steps, "threads": a.threads[0], "precision": tcfg.precision,
            "median_s": statistics.median(times), "min_s": min(times), "cpu_median_s": statistics.median(cpu),
            "iters": a.iters}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--res", type=int, nargs="+", default=[32, 128])
    p.add_argument("--ch", type=int, default=32)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--variant", nargs="+", default=None, help="rows of --params instead of --res")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--threads", type=int, nargs="+", default=[1])
    p.add_argument("--precision", nargs="+", default=["fp32"])
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--profile", action="store_true", help="print torch.profiler op tables (one process)")
    p.add_argument("--profile-rows", type=int, default=30)
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one or a.profile:
        print(json.dumps(run_one(a)))
        return
    rows = []
    targets = [("--variant", v) for v in a.variant] if a.variant else [("--res", str(r)) for r in a.res]
    for _ in range(a.rounds):
        for flag, target in targets:
            for threads in a.threads:
                for prec in a.precision:
                    cmd = [sys.executable, "-m", "benchmarks.bench_step", "--one", flag, target,
                           "--params", str(Path(a.params).resolve()), "--ch", str(a.ch), "--batch", str(a.batch),
                           "--threads", str(threads), "--precision", prec,
                           "--iters", str(a.iters), "--warmup", str(a.warmup)]
                    # cwd: the children import the tree this script was loaded from, not the caller's
                    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
                    r = json.loads(out.strip().splitlines()[-1])
                    rows.append(r)
                    print(f"{r['config']}: batch {r['batch']}, {r['d_steps']} D + 1 G, {r['threads']} thr "
                          f"{r['precision']}: median {r['median_s']:.4f} s  (min {r['min_s']:.4f} s, "
                          f"process CPU {r['cpu_median_s']:.4f} s)", flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
