"""Our training step vs the author's BigGAN-PyTorch, same configuration, alternating processes.

    python -m benchmarks.bench_vs_author /path/to/BigGAN-PyTorch --rounds 5

Configuration on both sides: 32x32 (CIFAR architecture, 10 classes, no attention), ch 32,
dim_z 120, shared embedding 128, skip-z, batch 8, 2 D steps + 1 G step, Adam, orthogonal
regularisation in G, EMA from iteration 0, SN with 1 power iteration, fp32, one thread.
Each round runs one fresh process per side (the order alternates between rounds) and
reports the median wall and process-CPU time of `--iters` steps after `--warmup`; the
ratio ours / author per round, then the median over rounds. Process CPU time is the more
stable figure on a machine shared with other work (it does not count time spent waiting).

The author's code is used unmodified from the given checkout (`git archive` of
ajbrock/BigGAN-PyTorch); its data-loading modules (`datasets.py`, which needs torchvision
and h5py) are replaced at run time by empty stand-ins, and it runs on `cpu` instead of
`cuda`. Nothing of it is copied into this repository.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

import torch

RES, CH, BATCH, D_STEPS, DIM_Z, SHARED_DIM, N_CLASSES = 32, 32, 8, 2, 120, 128, 10


def _timed(step, iters: int, warmup: int) -> dict:
    for _ in range(warmup):
        step()
    wall, cpu = [], []
    for _ in range(iters):
        t, c = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {"wall_s": statistics.median(wall), "cpu_s": statistics.median(cpu)}


def ours(iters: int, warmup: int) -> dict:
    from biggan.config.model import ModelConfig
    from biggan.config.train import EMAConfig, OrthoConfig, TrainConfig
    from biggan.ema import EMA
    from biggan.models import build_discriminator, build_generator
    from biggan.train.step import GANStep, infinite, make_optimizers

    mcfg = ModelConfig(resolution=RES, ch=CH, dim_z=DIM_Z, n_classes=N_CLASSES, shared=True,
                       shared_dim=SHARED_DIM, hier=True, attention=[])
    tcfg = TrainConfig(batch_size=BATCH, num_workers=1, num_d_steps=D_STEPS, precision="fp32",
                       ortho=OrthoConfig(enabled=True, beta=1e-4), ema=EMAConfig(decay=0.9999, start=0))
    G, D = build_generator(mcfg), build_discriminator(mcfg)
    opt_g, opt_d = make_optimizers(G, D, tcfg)
    step = GANStep(G, D, opt_g, opt_d, mcfg, tcfg, ema=EMA(G, 0.9999, 0))
    x = torch.rand(BATCH, 3, RES, RES) * 2 - 1
    y = torch.randint(0, N_CLASSES, (BATCH,))
    real = infinite(lambda: (x, y))
    it = iter(range(10**9))
    n_params = sum(p.numel() for p in [*G.parameters(), *D.parameters()])
    return {"params": n_params, **_timed(lambda: step(real, next(it)), iters, warmup)}


def _stub_author_data_modules() -> None:
    """The author's utils imports torchvision and its datasets module at import time only."""
    tv = types.ModuleType("torchvision")
    tv.transforms = types.ModuleType("torchvision.transforms")
    data = types.ModuleType("datasets")
    for name in ("ImageFolder", "ILSVRC_HDF5", "CIFAR10", "CIFAR100"):
        setattr(data, name, type(name, (), {}))
    sys.modules.update({"torchvision": tv, "torchvision.transforms": tv.transforms, "datasets": data})


def author(checkout: Path, iters: int, warmup: int) -> dict:
    sys.path.insert(0, str(checkout))
    _stub_author_data_modules()
    import BigGAN as model
    import train_fns
    import utils

    argv = ["--dataset", "C10", "--G_ch", str(CH), "--D_ch", str(CH), "--batch_size", str(BATCH),
            "--num_D_steps", str(D_STEPS), "--G_ortho", "1e-4", "--ema", "--ema_start", "0",
            "--G_attn", "0", "--D_attn", "0", "--dim_z", str(DIM_Z), "--shared_dim", str(SHARED_DIM),
            "--G_shared", "--hier", "--G_lr", "2e-4", "--D_lr", "2e-4", "--G_B1", "0", "--D_B1", "0"]
    config = vars(utils.prepare_parser().parse_args(argv))
    config["resolution"] = utils.imsize_dict[config["dataset"]]
    config["n_classes"] = utils.nclass_dict[config["dataset"]]
    config["G_activation"] = utils.activation_dict[config["G_nl"]]
    config["D_activation"] = utils.activation_dict[config["D_nl"]]
    G, D = model.Generator(**config), model.Discriminator(**config)
    G_ema = model.Generator(**{**config, "skip_init": True, "no_optim": True})
    ema = utils.ema(G, G_ema, config["ema_decay"], config["ema_start"])
    GD = model.G_D(G, D)
    state = {"itr": 0, "config": config}
    z_, y_ = utils.prepare_z_y(BATCH, DIM_Z, N_CLASSES, device="cpu")
    train = train_fns.GAN_training_function(G, D, GD, z_, y_, ema, state, config)
    G.train()
    D.train()
    # the author's loader hands over batch x num_D_steps images per iteration
    x = torch.rand(BATCH * D_STEPS, 3, RES, RES) * 2 - 1
    y = torch.randint(0, N_CLASSES, (BATCH * D_STEPS,))

    def step():
        train(x, y)
        state["itr"] += 1

    n_params = sum(p.numel() for p in [*G.parameters(), *D.parameters()])
    return {"params": n_params, **_timed(step, iters, warmup)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("author_checkout", type=Path, help="a checkout of ajbrock/BigGAN-PyTorch")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--ours", type=Path, default=Path(__file__).resolve().parents[1],
                   help="root of the biggan checkout to time (default: this one)")
    p.add_argument("--one", choices=["ours", "author"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if not (a.author_checkout / "BigGAN.py").is_file():
        p.error(f"{a.author_checkout}: no BigGAN.py; pass a checkout of ajbrock/BigGAN-PyTorch")
    if a.one:
        torch.set_num_threads(1)
        torch.manual_seed(0)
        r = ours(a.iters, a.warmup) if a.one == "ours" else author(a.author_checkout.resolve(), a.iters, a.warmup)
        print(json.dumps(r))
        return

    def run(side: str) -> dict:
        cmd = [sys.executable, "-m", "benchmarks.bench_vs_author", str(a.author_checkout.resolve()),
               "--one", side, "--iters", str(a.iters), "--warmup", str(a.warmup)]
        env = {**__import__("os").environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(a.ours)}
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=a.ours, env=env).stdout
        return json.loads(out.strip().splitlines()[-1])

    rounds = []
    for i in range(a.rounds):
        order = ["ours", "author"] if i % 2 == 0 else ["author", "ours"]
        r = {side: run(side) for side in order}
        r["ratio_wall"] = r["ours"]["wall_s"] / r["author"]["wall_s"]
        r["ratio_cpu"] = r["ours"]["cpu_s"] / r["author"]["cpu_s"]
        rounds.append(r)
        print(f"round {i}: ours {r['ours']['wall_s']:.3f} s wall / {r['ours']['cpu_s']:.3f} s cpu, "
              f"author {r['author']['wall_s']:.3f} / {r['author']['cpu_s']:.3f}; "
              f"ratio {r['ratio_wall']:.2f} wall, {r['ratio_cpu']:.2f} cpu", flush=True)
    print(f"params: ours {rounds[0]['ours']['params']:,}, author {rounds[0]['author']['params']:,}")
    print(f"median ratio ours/author: {statistics.median(r['ratio_wall'] for r in rounds):.2f} wall, "
          f"{statistics.median(r['ratio_cpu'] for r in rounds):.2f} cpu")
    print(json.dumps(rounds))


if __name__ == "__main__":
    main()
