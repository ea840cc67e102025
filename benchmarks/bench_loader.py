"""Loader throughput: samples/s of make_train_stream per DataLoader worker, and of iter_split.

    python -m benchmarks.bench_loader --batches 60 --batch 64 --workers 0 1 2

Two shard sets are built first (not timed): the embedded digits at 32x32 PNG (the default
dataset) and 500 generated photos at 128x128 JPEG q95. The stream's first batch (shuffle
buffer fill, worker start) is timed separately from the steady state. num_workers=0 decodes in
the calling process, which then counts as one worker; for it samples per CPU-second are also
given (unaffected by other load on the machine). Batches: x float32 in [-1, 1], y int64.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def build(tmp: Path) -> dict[str, Path]:
    from benchmarks.bench_shard import make_photos
    from biggan.config.data import DatasetConfig
    from biggan.data.shard.build import build_shards

    make_photos(tmp / "photos", 500)
    sets = {
        "digits 32px png": {"source": {"kind": "digits"}, "resolution": 32},
        "photos 128px jpg": {"source": {"kind": "imagefolder", "root": str(tmp / "photos")},
                             "resolution": 128, "encoding": "jpg", "draft": True},
    }
    out = {}
    for name, cfg in sets.items():
        out[name] = tmp / name.replace(" ", "_")
        build_shards(DatasetConfig.model_validate({**cfg, "shard_max_count": 200}), "train", out[name],
                     progress=False)
    return out


def time_stream(shard_dir: Path, batch: int, batches: int, workers: int) -> dict:
    from biggan.data.loader import make_train_stream

    t0 = time.perf_counter()
    stream = make_train_stream(shard_dir, batch, seed=0, num_workers=workers)
    next(stream)
    t1, c1 = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(stream)
    t2, c2 = time.perf_counter(), time.process_time()
    rate = batches * batch / (t2 - t1)
    return {"first_batch_s": t1 - t0, "samples_per_s": rate, "per_worker": rate / max(1, workers),
            "ms_per_batch": 1000 * (t2 - t1) / batches,
            # in-process decoding only: samples per CPU-second, independent of other load
            "samples_per_cpu_s": batches * batch / (c2 - c1) if workers == 0 else None}


def time_split(shard_dir: Path, batch: int) -> dict:
    from biggan.data.loader import iter_split

    t = time.perf_counter()
    n = sum(len(y) for _, y in iter_split(shard_dir, batch))
    return {"samples": n, "samples_per_s": n / (time.perf_counter() - t)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=60)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    a = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_loader_") as tmp:
        for name, shard_dir in build(Path(tmp)).items():
            for w in a.workers:
                r = {"data": name, "num_workers": w, **time_stream(shard_dir, a.batch, a.batches, w)}
                rows.append(r)
                cpu = f", {r['samples_per_cpu_s']:.0f} per CPU-second" if w == 0 else ""
                print(f"{name:<18} train stream, num_workers={w}: {r['samples_per_s']:7.0f} samples/s "
                      f"({r['per_worker']:6.0f} per worker{cpu}; {r['ms_per_batch']:5.1f} ms per batch of "
                      f"{a.batch}; first batch {r['first_batch_s']:.2f} s)", flush=True)
            r = {"data": name, "iter_split": True, **time_split(shard_dir, a.batch)}
            rows.append(r)
            print(f"{name:<18} iter_split: {r['samples_per_s']:7.0f} samples/s over {r['samples']} samples")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
