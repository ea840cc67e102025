"""CPU time of one BigGAN training iteration (2 D steps + 1 G step), as the paper's loop runs it.

    python -m benchmarks.bench_step --res 32 --ch 32 --batch 8 --threads 1 --precision fp32

Each configuration runs in a fresh process (thread count is fixed at start-up); the median
of `--iters` timed iterations after `--warmup` is reported.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

import torch


def run_one(res: int, ch: int, batch: int, threads: int, precision: str, iters: int, warmup: int,
            n_classes: int, attention: list[int]) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    from biggan.config.model import ModelConfig
    from biggan.config.train import EMAConfig, TrainConfig
    from biggan.ema import EMA
    from biggan.models import build_discriminator, build_generator
    from biggan.train.step import GANStep, infinite, make_optimizers

    mcfg = ModelConfig(resolution=res, ch=ch, dim_z=120 if res != 16 else 120, n_classes=n_classes,
                       shared_dim=128, attention=attention)
    tcfg = TrainConfig(batch_size=batch, num_workers=1, num_d_steps=2, precision=precision,
                       ema=EMAConfig(decay=0.9999, start=0))
    G, D = build_generator(mcfg), build_discriminator(mcfg)
    opt_g, opt_d = make_optimizers(G, D, tcfg)
    step = GANStep(G, D, opt_g, opt_d, mcfg, tcfg, ema=EMA(G, 0.9999, 0))
    x = torch.rand(batch, 3, res, res) * 2 - 1
    y = torch.randint(0, n_classes, (batch,))
    real = infinite(lambda: (x, y))
    times = []
    for i in range(warmup + iters):
        t = step(real, i)["step_time"]
        if i >= warmup:
            times.append(t)
    return {"res": res, "ch": ch, "batch": batch, "threads": threads, "precision": precision,
            "median_s": statistics.median(times), "min_s": min(times), "iters": iters}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--res", type=int, nargs="+", default=[32, 128])
    p.add_argument("--ch", type=int, default=32)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        res = a.res[0]
        cfg = dict(n_classes=1000, attention=[64]) if res >= 128 else dict(n_classes=10, attention=[])
        print(json.dumps(run_one(res, a.ch, a.batch, a.threads[0], a.precision[0], a.iters, a.warmup, **cfg)))
        return
    rows = []
    for res in a.res:
        for threads in a.threads:
            for prec in a.precision:
                cmd = [sys.executable, "-m", "benchmarks.bench_step", "--one", "--res", str(res), "--ch",
                       str(a.ch), "--batch", str(a.batch), "--threads", str(threads), "--precision", prec,
                       "--iters", str(a.iters), "--warmup", str(a.warmup)]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                rows.append(json.loads(out.strip().splitlines()[-1]))
                r = rows[-1]
                print(f"{r['res']:>4}px ch{r['ch']} batch {r['batch']} {r['threads']} thr {r['precision']}: "
                      f"median {r['median_s']:.3f} s  (min {r['min_s']:.3f} s)", flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
