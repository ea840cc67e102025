"""Loader throughput: samples/s of make_train_stream per DataLoader worker, and of iter_split.

    python -m benchmarks.bench_loader --batches 60 --batch 64 --workers 0 1 2

Two shard sets are built first (not timed): the embedded digits at 32x32 PNG (the default
dataset) and 500 generated photos at 128x128 JPEG q95 (ImageNet-style: 500x375 JPEGs in
class folders, centre-cropped and resized by the shard stage). The stream's first batch
(shuffle buffer fill, worker start) is timed separately from the steady state. num_workers=0
decodes in the calling process, which then counts as one worker. Batches: x float32 in
[-1, 1], y int64.

Per core (the photos): images per CPU-second of every process involved (the caller and its
DataLoader workers, from /proc), so other load on the machine does not count, against the plain
limit measured in the same run: the same shards' JPEG bytes, held in memory, decoded with
Pillow and converted to the same float batches in a loop (the shards hold the images at 128 px
already, so decoding is all the resizing left to do); and the cores a training step taking
1,000 images/s would need to be fed.
"""
from __future__ import annotations

import argparse
import json
import os
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


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine()


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (Linux /proc; this process by os.times)."""
    ticks, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks      # utime, stime
    t = os.times()
    return total + t.user + t.system


def _children() -> list[int]:
    me, out = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == me:
                out.append(int(stat.parent.name))
        except (OSError, ValueError):
            pass
    return out


def plain_decode(shard_dir: Path, batch: int, batches: int) -> dict:
    """The limit: JPEG bytes in memory -> Pillow decode -> float batch, one process."""
    import io
    import tarfile

    import numpy as np
    from PIL import Image

    from biggan.data.loader import to_float_batch

    blobs = []
    for tar in sorted(shard_dir.glob("*.tar")):
        with tarfile.open(tar) as tf:
            blobs += [tf.extractfile(m).read() for m in tf.getmembers() if m.name.endswith(".jpg")]
    c0 = time.process_time()
    for b in range(batches):
        images = [np.asarray(Image.open(io.BytesIO(blobs[(b * batch + i) % len(blobs)])).convert("RGB"))
                  for i in range(batch)]
        to_float_batch(images)
    return {"images_per_cpu_s": batches * batch / (time.process_time() - c0)}


def per_core(shard_dir: Path, batch: int, batches: int, workers: int) -> dict:
    """Steady-state images per CPU-second of make_train_stream, workers included."""
    from biggan.data.loader import make_train_stream

    stream = make_train_stream(shard_dir, batch, seed=0, num_workers=workers, prefetch_factor=2)
    for _ in range(2 * max(1, workers)):
        next(stream)                                      # start-up and shuffle buffer fill
    pids = _children()                                    # the DataLoader workers
    c0, t0 = _cpu_s(pids), time.perf_counter()
    for _ in range(batches):
        next(stream)
    cpu, wall = _cpu_s(pids) - c0, time.perf_counter() - t0
    return {"images_per_cpu_s": batches * batch / cpu, "images_per_s": batches * batch / wall,
            "busy_cores": cpu / wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=60)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--per-core-only", action="store_true", help="only the per-core figures of the photos")
    a = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_loader_") as tmp:
        sets = build(Path(tmp))
        for name, shard_dir in sets.items() if not a.per_core_only else ():
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
        photos = sets["photos 128px jpg"]
        limit = plain_decode(photos, a.batch, a.batches)["images_per_cpu_s"]
        print(f"\nCPU: {cpu_name()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        print(f"128px JPEG, plain decode limit: {limit:7.0f} images per CPU-second")
        for w in a.workers:
            r = {"data": "photos 128px jpg", "per_core": True, "num_workers": w, "limit_per_cpu_s": limit,
                 **per_core(photos, a.batch, a.batches, w)}
            r["ratio"] = r["images_per_cpu_s"] / limit
            r["cores_for_1000_per_s"] = 1000 / r["images_per_cpu_s"]
            rows.append(r)
            print(f"128px JPEG, num_workers={w}: {r['images_per_cpu_s']:7.0f} images per CPU-second "
                  f"= {r['ratio']:.2f}x the limit; {r['images_per_s']:6.0f} images/s on {r['busy_cores']:.2f} "
                  f"busy cores; 1,000 images/s needs {r['cores_for_1000_per_s']:.1f} cores", flush=True)
    print(json.dumps({"cpu": cpu_name(), "rows": rows}))


if __name__ == "__main__":
    main()
