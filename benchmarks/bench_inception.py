"""CPU throughput of feature extraction with the FID Inception v3 (TF graph port), batch 50.

    python -m benchmarks.bench_inception [--res 32 128 256] [--batch 50] [--batches 3] [--threads 2]
                                         [--float64] [--fid]

Random weights (speed does not depend on the values). Each input resolution is resized to
299x299 by the TF1 bilinear resize inside the network, so the cost barely depends on it.
Reports the median images/s over `--batches` timed batches after one warm-up batch; --float64
adds one float64 batch; --fid times a 2048-d Frechet distance (two symmetric eigendecompositions).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from biggan.metrics.inception import FIDInceptionV3, InceptionFeatureNet


def images_per_second(net: InceptionFeatureNet, res: int, batch: int, batches: int) -> dict:
    x = torch.randint(0, 256, (batch, 3, res, res), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    net.features(x)
    times = []
    for _ in range(batches):
        t = time.perf_counter()
        net.features(x)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {"res": res, "batch": batch, "dtype": str(net.dtype).removeprefix("torch."),
            "median_batch_s": round(med, 3), "images_per_s": round(batch / med, 2)}


def fid_seconds(dim: int = 2048, n: int = 4096) -> float:
    from biggan.metrics.fid import feature_stats, frechet_distance

    rng = np.random.default_rng(0)
    mu1, s1 = feature_stats(rng.normal(size=(n, dim)))
    mu2, s2 = feature_stats(rng.normal(size=(n, dim)) + 0.1)
    t = time.perf_counter()
    frechet_distance(mu1, s1, mu2, s2)
    return round(time.perf_counter() - t, 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--res", type=int, nargs="+", default=[32, 128, 256])
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--float64", action="store_true")
    p.add_argument("--fid", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = FIDInceptionV3().eval().requires_grad_(False)
    rows = [images_per_second(InceptionFeatureNet(model, "0" * 64), r, a.batch, a.batches) for r in a.res]
    if a.float64:
        rows.append(images_per_second(InceptionFeatureNet(model, "0" * 64, dtype=torch.float64),
                                      a.res[0], a.batch, 1))
    for r in rows:
        print(f"{r['res']:>4}px batch {r['batch']} {r['dtype']} ({a.threads} threads): "
              f"{r['images_per_s']:.2f} images/s ({r['median_batch_s']:.2f} s/batch)", flush=True)
    summary: dict = {"threads": a.threads, "rows": rows}
    if a.fid:
        summary["fid_2048_s"] = fid_seconds()
        print(f"FID from 2048-d statistics: {summary['fid_2048_s']} s")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
