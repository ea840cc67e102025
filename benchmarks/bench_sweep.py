"""Time of one truncation-sweep point on the embedded default, split by phase.

    python -m benchmarks.bench_sweep [--params params.yaml] [--threshold 1.0] [--samples N]
        [--standing-batch B] [--repeats 3] [--threads T]

Generator: params' base `model:` section (embedded default: 16 px, ch 6, dim_z 60, shared
embedding, skip-z, attention at 8 px), seeded random init -- the cost does not depend on the
weights. Feature net: the digits CNN of params' eval section, from eval.digits_net.out_dir
(the feature_net stage's output) when present, else trained here with
biggan.metrics.digits_train (the same function the stage calls; ~20 s, not timed). Reference
statistics: the real digits training images at the model's resolution through that net
(computed here, not timed). Then, per repeat, one sweep point exactly as stages.sweep runs it
(biggan.sampling.sweep.prepare_bn + score_point): standing statistics (sweep.standing_passes
passes of --standing-batch, default train.batch_size), --samples (default sweep.num_samples)
samples generated in batches of eval.batch_size, feature extraction, IS/FID/precision-recall.
One untimed warm-up point first. Reports the median seconds of each phase, and the process CPU
seconds of the repeats (less sensitive to other load on a shared machine).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

PHASES = ("standing_s", "generation_s", "features_s", "metrics_s", "total_s")


def feature_net(cfg):
    from biggan.metrics.digits_net import DigitsFeatureNet
    from biggan.metrics.digits_train import train_digits_net
    from biggan.metrics.feature_net import digits_weights_path, load_feature_net

    path = digits_weights_path(cfg)
    if path.is_file():
        return load_feature_net(cfg), f"trained weights {path}"
    net, m = train_digits_net(cfg.digits_net)
    return DigitsFeatureNet(net, "0" * 64), (f"{path} absent: trained here with biggan.metrics.digits_train "
                                            f"(val accuracy {m['val_accuracy']:.4f})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--threshold", type=float, default=1.0, help="truncation of the timed point (default 1.0)")
    p.add_argument("--samples", type=int, help="samples of the point (default: sweep.num_samples)")
    p.add_argument("--standing-batch", type=int, help="batch of each standing pass (default: train.batch_size)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    from biggan.config import load_params
    from biggan.data.digits import digits_images
    from biggan.metrics.images import nhwc_batches
    from biggan.metrics.refstats import compute_reference
    from biggan.metrics.scorer import Scorer
    from biggan.models import build_generator
    from biggan.sampling.sweep import prepare_bn, score_point

    params = load_params(a.params)
    cfg, scfg, mcfg = params.eval, params.sweep, params.model
    n = a.samples or scfg.num_samples
    standing_batch = a.standing_batch or params.train.batch_size
    net, net_note = feature_net(cfg)
    train, _ = digits_images("train", mcfg.resolution)
    ref, _ = compute_reference(net, nhwc_batches(train, cfg.batch_size), None, cfg, progress=False)
    scorer = Scorer(net, ref, is_splits=cfg.is_splits, pr_k=cfg.pr_k, pr_samples=cfg.pr_samples,
                    batch_size=cfg.batch_size)
    torch.manual_seed(0)
    G = build_generator(mcfg).eval().requires_grad_(False)

    def point(samples: int) -> dict:
        t0 = time.perf_counter()
        standing_s = prepare_bn(G, a.threshold, scfg, standing_batch)
        r = score_point(G, scorer, a.threshold, samples, scfg.seeds[0], cfg.batch_size)
        return {"standing_s": standing_s, "generation_s": r["generation_s"], "features_s": r["features_s"],
                "metrics_s": r["metrics_s"], "total_s": time.perf_counter() - t0, "fid": r["fid"],
                "is_mean": r["is_mean"]}

    point(min(n, 2 * cfg.batch_size))                      # warm-up
    cpu0 = time.process_time()
    runs = [point(n) for _ in range(a.repeats)]
    cpu_s = (time.process_time() - cpu0) / a.repeats
    out = {"model": {"resolution": mcfg.resolution, "ch": mcfg.ch, "dim_z": mcfg.dim_z,
                     "g_params": sum(q.numel() for q in G.parameters())},
           "feature_net": net_note, "threshold": a.threshold, "samples": n, "batch": cfg.batch_size,
           "bn_stats": scfg.bn_stats, "standing_passes": scfg.standing_passes, "standing_batch": standing_batch,
           "threads": a.threads, "repeats": a.repeats,
           "median": {k: round(statistics.median(r[k] for r in runs), 3) for k in PHASES},
           "runs": [{k: round(r[k], 3) for k in PHASES} for r in runs],
           "cpu_s_per_point": round(cpu_s, 3),
           "images_per_s": round(n / statistics.median(r["total_s"] for r in runs), 1)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
