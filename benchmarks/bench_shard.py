"""Sharding throughput: generated 500x375 JPEGs -> 128x128 shards, against a plain `tar cf`.

    python -m benchmarks.bench_shard --images 500 --res 128 --workers 1 2 --repeats 3

For each worker count, with and without JPEG draft decoding, the whole stage work (listing,
decode, crop, resize, encode, write, hash, index, pool start) is timed. Two figures: wall-clock
images/s, and images per CPU-second summed over this process and its workers, which is the
throughput of one fully busy process and does not depend on other load on the machine.
`tar cf` of the same files is the copy limit (bytes moved, nothing decoded). The run with the
best wall time of --repeats is reported. The biggan imports sit inside functions: spawned
pool workers re-import this module, and should not pay for torch.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_photos(folder: Path, n: int, classes: int = 4, seed: int = 0) -> int:
    """n 500x375 JPEGs (q90): smooth colour fields plus grain, ~ the entropy of photos. -> bytes."""
    rng = np.random.default_rng(seed)
    total = 0
    for i in range(n):
        d = folder / f"c{i % classes}"
        d.mkdir(parents=True, exist_ok=True)
        base = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize(
            (500, 375), Image.Resampling.BICUBIC)
        grain = rng.normal(0, 14, (375, 500, 3))
        im = Image.fromarray(np.clip(np.asarray(base, float) + grain, 0, 255).astype(np.uint8))
        path = d / f"img_{i:05d}.JPEG"
        im.save(path, quality=90)
        total += path.stat().st_size
    return total


def best_of(repeats: int, fn) -> tuple[float, float]:
    """-> (best wall seconds, CPU seconds of that run: this process + reaped children)."""
    runs = []
    for _ in range(repeats):
        r0, c0, t0 = os.times(), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
        r1, c1 = os.times(), resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.user - r0.user + r1.system - r0.system
               + c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime)
        runs.append((wall, cpu))
    return min(runs)


def shard_once(src: Path, out: Path, res: int, draft: bool, workers: int, encoding: str) -> None:
    from biggan.config.data import DatasetConfig
    from biggan.data.shard.build import build_shards

    shutil.rmtree(out, ignore_errors=True)
    cfg = DatasetConfig.model_validate({
        "source": {"kind": "imagefolder", "root": str(src)}, "resolution": res, "draft": draft,
        "workers": workers, "encoding": encoding, "quality": 95, "shard_max_count": 1000})
    build_shards(cfg, "train", out, progress=False)


def row(method: str, workers: int, images: int, wall: float, cpu: float) -> dict:
    return {"method": method, "workers": workers, "seconds": wall, "images_per_s": images / wall,
            "cpu_s": cpu, "images_per_cpu_s": images / cpu}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=500)
    p.add_argument("--res", type=int, default=128)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--encoding", default="jpg", choices=["jpg", "png"])
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    import biggan.data.shard.build  # noqa: F401  (not timed: config and torch imports)

    with tempfile.TemporaryDirectory(prefix="bench_shard_") as tmp:
        src, out = Path(tmp) / "src", Path(tmp) / "out"
        size = make_photos(src, a.images)
        print(f"{a.images} JPEGs 500x375, mean {size / a.images / 1024:.1f} KiB; cores: {os.cpu_count()}")
        rows = []
        tar = best_of(a.repeats, lambda: subprocess.run(
            ["tar", "cf", str(Path(tmp) / "plain.tar"), "-C", str(src), "."], check=True))
        rows.append(row("tar cf (copy limit)", 1, a.images, *tar))
        for workers in a.workers:
            for draft in (False, True):
                run = best_of(a.repeats, lambda: shard_once(src, out, a.res, draft, workers, a.encoding))
                rows.append(row(f"shard -> {a.res}px {a.encoding} q95, draft={draft}", workers, a.images, *run))
        for r in rows:
            print(f"{r['method']:<40} workers {r['workers']}: {r['seconds']:6.3f} s {r['images_per_s']:8.1f} img/s"
                  f"  CPU {r['cpu_s']:6.3f} s {r['images_per_cpu_s']:8.1f} img per CPU-second")
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
