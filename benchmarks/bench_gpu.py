"""Training-step speed on one GPU at the imagenet128 preset's configuration.

    python -m benchmarks.bench_gpu [--preset configs/imagenet128.yaml] [--batch 32] [--steps 10]
                                   [--modes fp32 bf16 bf16+compile] [--author PATH] [--out FILE]

Configuration: the preset's model (128 px, ch 96, attention at 64, shared embedding, skip-z)
and train section (2 D steps per G step, R1 off, ortho reg, EMA) on one device, one forward
pass of `--batch` images (default: the preset's per-GPU micro-batch, batch_size / (num_workers
x accumulate) = 2048 / (8 x 8) = 32, BGP's 256 per step over 8 GPUs). Random real images:
the loader is measured by bench_loader.

Per mode (fp32, bf16 autocast, bf16 + torch.compile): the median wall time of `--steps`
iterations after `--warmup`, real images/s (micro-batch x D steps / step time, as the loop
counts them), peak memory, and the model FLOPs utilisation: the FLOPs of one iteration, counted
by torch.utils.flop_counter (convolutions and matmuls, forward and backward), over the step
time and the device's dense peak for the mode (PEAK_TFLOPS: fp32 runs cuDNN's convolutions in
TF32 by default, so it is held against the TF32 peak). Then Inception v3 (random weights)
feature images/s, and with `--author` the author's BigGAN-PyTorch at the same configuration
(fp32: it has no bf16), loaded as benchmarks/bench_vs_author does, in its own process.

Without CUDA (or with --tiny) a tiny configuration runs instead (32 px, ch 4, batch 2, two
steps, fp32 and bf16: compiling takes minutes on 2 cores): that keeps the script working in
CI; its figures mean nothing.
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

# dense (non-sparse) peak TFLOPS from NVIDIA's datasheets; the first key found in the device
# name wins, so the more specific names come first
PEAK_TFLOPS = {
    "H100 PCIe": {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0},
    "H100": {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4},         # SXM5 (e.g. "NVIDIA H100 80GB HBM3")
    "H200": {"fp32": 66.9, "tf32": 494.7, "bf16": 989.4},
    "A100": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0},
}
TINY = {"resolution": 32, "ch": 4, "n_classes": 10, "attention": [16]}


def peak_tflops(device_name: str, mode: str) -> float | None:
    kind = "bf16" if mode.startswith("bf16") else ("tf32" if torch.backends.cudnn.allow_tf32 else "fp32")
    for key, peaks in PEAK_TFLOPS.items():
        if key in device_name:
            return peaks[kind]
    return None


def preset_configs(preset: Path, tiny: bool, batch: int | None):
    """-> (ModelConfig, TrainConfig of one worker, micro-batch) from the preset."""
    from biggan.config import load_params

    p = load_params(preset)
    model = p.model.model_copy(update=TINY) if tiny else p.model
    mb = batch or (2 if tiny else p.train.micro_batch)
    train = p.train.model_copy(update={"num_workers": 1, "accumulate": 1, "batch_size": mb})
    return model, train, mb


def make_step(model, train, mode: str, device: torch.device):
    from biggan.ema import EMA
    from biggan.models import build_discriminator, build_generator
    from biggan.train.step import GANStep, infinite, make_optimizers, prepare_modules

    cfg = train.model_copy(update={"precision": "bf16" if mode.startswith("bf16") else "fp32",
                                   "runtime": train.runtime.model_copy(update={"compile": mode.endswith("compile")})})
    torch.manual_seed(0)
    G, D = build_generator(model, device), build_discriminator(model, device)
    prepare_modules(G, D, cfg.runtime, device)
    opt_g, opt_d = make_optimizers(G, D, cfg)
    ema = EMA(G, cfg.ema.decay, 0, cfg.ema.buffers) if cfg.ema.enabled else None
    step = GANStep(G, D, opt_g, opt_d, model, cfg, ema=ema, device=device,
                   generator=torch.Generator().manual_seed(1))
    x = torch.rand(cfg.micro_batch, 3, model.resolution, model.resolution) * 2 - 1
    y = torch.randint(0, model.n_classes, (cfg.micro_batch,))
    return step, infinite(lambda: (x, y))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_flops(model, train, device: torch.device) -> int:
    """FLOPs of one eager fp32 iteration (all D steps, the G step, EMA)."""
    from torch.utils.flop_counter import FlopCounterMode

    step, real = make_step(model, train, "fp32", device)
    step(real, 0)                                     # first-call allocations outside the count
    with FlopCounterMode(display=False) as counter:
        step(real, 1)
    return counter.get_total_flops()


def time_mode(model, train, mode: str, device: torch.device, steps: int, warmup: int) -> dict:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    step, real = make_step(model, train, mode, device)
    t0 = time.perf_counter()
    for t in range(warmup):
        step(real, t)
    _sync(device)
    warm_s, times = time.perf_counter() - t0, []
    for t in range(steps):
        t1 = time.perf_counter()
        step(real, warmup + t)
        _sync(device)
        times.append(time.perf_counter() - t1)
    s = statistics.median(times)
    out = {"mode": mode, "step_s": s, "images_per_s": train.micro_batch * train.num_d_steps / s,
           "warmup_s": warm_s}
    if device.type == "cuda":
        out["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2 ** 30
    return out


def inception_rate(device: torch.device, res: int, batch: int, batches: int) -> dict:
    from biggan.metrics.inception import FIDInceptionV3, InceptionFeatureNet

    net = InceptionFeatureNet(FIDInceptionV3().eval(), "0" * 64, device)
    x = torch.randint(0, 256, (batch, 3, res, res), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    net.features(x)
    times = []
    for _ in range(batches):
        t = time.perf_counter()
        net.features(x)                               # ends with a copy to the CPU: synchronised
        times.append(time.perf_counter() - t)
    return {"batch": batch, "res": res, "images_per_s": batch / statistics.median(times)}


def author_rate(checkout: Path, model, train, device: torch.device, steps: int, warmup: int) -> dict:
    """The author's GAN_training_function at our configuration, in this process (see --author-only)."""
    from benchmarks.bench_vs_author import _stub_author_data_modules

    sys.path.insert(0, str(checkout))
    _stub_author_data_modules()
    import BigGAN as author_model
    import train_fns
    import utils

    dataset = {32: "C10", 128: "I128_hdf5"}[model.resolution]
    attn = "_".join(str(a) for a in model.attention) or "0"
    o = train.optim
    argv = ["--dataset", dataset, "--G_ch", str(model.ch), "--D_ch", str(model.ch),
            "--batch_size", str(train.micro_batch), "--num_D_steps", str(train.num_d_steps),
            "--G_ortho", str(train.ortho.beta if train.ortho.enabled else 0.0), "--ema", "--ema_start", "0",
            "--G_attn", attn, "--D_attn", attn, "--dim_z", str(model.dim_z), "--shared_dim", str(model.shared_dim),
            "--G_shared", "--hier", "--G_lr", str(o.g_lr), "--D_lr", str(o.d_lr), "--G_B1", str(o.beta1),
            "--D_B1", str(o.beta1), "--G_B2", str(o.beta2), "--D_B2", str(o.beta2), "--adam_eps", str(o.eps)]
    config = vars(utils.prepare_parser().parse_args(argv))
    config["resolution"] = utils.imsize_dict[dataset]
    config["n_classes"] = model.n_classes
    config["G_activation"] = utils.activation_dict[config["G_nl"]]
    config["D_activation"] = utils.activation_dict[config["D_nl"]]
    torch.manual_seed(0)
    G, D = author_model.Generator(**config).to(device), author_model.Discriminator(**config).to(device)
    G_ema = author_model.Generator(**{**config, "skip_init": True, "no_optim": True}).to(device)
    ema = utils.ema(G, G_ema, config["ema_decay"], config["ema_start"])
    state = {"itr": 0, "config": config}
    z_, y_ = utils.prepare_z_y(train.micro_batch, model.dim_z, model.n_classes, device=device.type)
    fn = train_fns.GAN_training_function(G, D, author_model.G_D(G, D), z_, y_, ema, state, config)
    G.train()
    D.train()
    n = train.micro_batch * train.num_d_steps             # its loader hands over every D step's images
    x = torch.rand(n, 3, model.resolution, model.resolution, device=device) * 2 - 1
    y = torch.randint(0, model.n_classes, (n,), device=device)
    times = []
    for t in range(warmup + steps):
        t1 = time.perf_counter()
        fn(x, y)
        state["itr"] += 1
        _sync(device)
        times.append(time.perf_counter() - t1)
    s = statistics.median(times[warmup:])
    return {"mode": "author fp32", "step_s": s, "images_per_s": n / s}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", type=Path, default=ROOT / "configs" / "imagenet128.yaml")
    p.add_argument("--batch", type=int, help="images per forward pass (default: the preset's per-GPU micro-batch)")
    p.add_argument("--steps", type=int, help="timed iterations (default 10 on CUDA, 2 tiny)")
    p.add_argument("--warmup", type=int, help="untimed iterations first (default 3 on CUDA, 1 tiny)")
    p.add_argument("--modes", nargs="+", choices=["fp32", "bf16", "bf16+compile"])
    p.add_argument("--tiny", action="store_true", help="the CPU configuration, also on CUDA")
    p.add_argument("--author", type=Path, help="a checkout of ajbrock/BigGAN-PyTorch")
    p.add_argument("--author-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help="write the JSON here (it is printed last either way)")
    a = p.parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    tiny = a.tiny or not cuda
    if not cuda:
        torch.set_num_threads(1)          # two threads on a busy 2-core machine: 10-80x slower steps
    steps, warmup = a.steps or (2 if tiny else 10), a.warmup if a.warmup is not None else (1 if tiny else 3)
    if a.author is not None and not (a.author / "BigGAN.py").is_file():
        p.error(f"{a.author}: no BigGAN.py; pass a checkout of ajbrock/BigGAN-PyTorch")
    model, train, mb = preset_configs(a.preset, tiny, a.batch)
    if a.author_only:
        print(json.dumps(author_rate(a.author.resolve(), model, train, device, steps, warmup)))
        return
    if cuda:
        torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(device) if cuda else "cpu"
    modes = a.modes or (["fp32", "bf16"] if tiny else ["fp32", "bf16", "bf16+compile"])
    print(f"device: {name}; {model.resolution} px, ch {model.ch}, batch {mb} per forward pass, "
          f"{train.num_d_steps} D steps per G step{' (tiny: figures mean nothing)' if tiny else ''}", flush=True)
    flops = step_flops(model, train, device)
    rows = []
    for mode in modes:
        r = time_mode(model, train, mode, device, steps, warmup)
        peak = peak_tflops(name, mode) if cuda else None
        r["mfu"] = flops / r["step_s"] / (peak * 1e12) if peak else None
        rows.append(r)
        print(f"  {mode:<13} {r['step_s'] * 1000:9.1f} ms/step {r['images_per_s']:9.1f} images/s  MFU "
              + (f"{r['mfu']:6.1%}" if r["mfu"] is not None else "   n/a")
              + (f"  {r['peak_memory_gib']:.1f} GiB" if cuda else ""), flush=True)
    if a.author is not None:
        cmd = [sys.executable, "-m", "benchmarks.bench_gpu", "--author-only", "--author", str(a.author.resolve()),
               "--preset", str(a.preset), "--steps", str(steps), "--warmup", str(warmup)]
        cmd += (["--batch", str(a.batch)] if a.batch else []) + (["--tiny"] if a.tiny else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
        r = json.loads(out.strip().splitlines()[-1])
        r["mfu"] = flops / r["step_s"] / (peak_tflops(name, "fp32") * 1e12) if cuda and peak_tflops(name, "fp32") else None
        rows.append(r)
        print(f"  {r['mode']:<13} {r['step_s'] * 1000:9.1f} ms/step {r['images_per_s']:9.1f} images/s  "
              f"(its FLOPs taken as ours)", flush=True)
    inception = inception_rate(device, model.resolution, 2 if tiny else 100, 1 if tiny else 5)
    print(f"  Inception v3 features: {inception['images_per_s']:.1f} images/s "
          f"({inception['res']} px inputs, batch {inception['batch']})")
    result = {"device": name, "tiny": tiny, "resolution": model.resolution, "ch": model.ch, "batch": mb,
              "num_d_steps": train.num_d_steps, "flops_per_step": flops, "torch": torch.__version__,
              "steps": rows, "inception": inception}
    if a.out:
        a.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
