"""DVC stage: truncation sweep of every trained seed of every variant -> Table 2's four entries.

    python -m stages.sweep --params params.yaml (--all | --variant NAME ...) [--seed N ...]
        [--models models] [--out metrics/sweep] [--scores metrics/scores]
        [--refstats <eval.refstats_dir>] [--device auto] [--executor auto|pool|ray] [--threads T]
        [--jobs J] [--no-progress]

One stage for all variants (`--all`): every (variant, seed) sweep is one task, largest models
first (biggan.sampling.jobs.run_all). On one machine the tasks share one pool of single-
threaded processes (at most --jobs, default the number of cores, or one per GPU with CUDA):
a pool process imports torch once for all its sweeps; one stage per variant paid that, and a
stage process, 11 times for ~5 s of sweeping each (measured: 211 s for the 11 sweep stages of
the default on an AMD EPYC). On a Ray cluster with GPUs or several nodes (RAY_ADDRESS, joined
as the train stage joins it) each task is a Ray task with one GPU when the cluster has GPUs
(--executor ray forces Ray, pool the pool). A Ray task reads no path of this machine: with
params `storage.root` set, its params, model and evaluation inputs are copied there and read by
URL; without one, Ray runs the sweep only on a one-node cluster. `--device auto` (the default)
samples and scores on CUDA when the process running the task sees a GPU, else on the CPU.

Inputs: the train stage's <model>/G_ema.pt + model.json; the ref_stats stage's
<refstats>/<dataset>/train_stats.npz (FID and precision/recall reference) and metrics.json
(val_is_mean: the IS of the real validation images); the feature network of params' eval
section (eval.feature_net: eval.digits_net.out_dir/digits_net.pt or eval.inception_weights).
Settings: params' `sweep:` section (untruncated, thresholds, num_samples, bn_stats,
standing_passes, seed); samples are generated in batches of eval.batch_size; each standing-
statistics pass is one batch of train.batch_size (the batch G's BatchNorm saw in training, as
BigGAN-PyTorch's sampling accumulates them with G's batch size).

Outputs, written by this process as each task finishes (the JSON last, each file written to a
temporary name and renamed), per variant V and seed N:
    <out>/V/sN.csv   one row per point and sweep seed: threshold (empty = untruncated), truncated
                          (True/False), sweep_seed, is_mean, is_std, fid, fid_imag, precision,
                          recall, n
    <out>/V/sN.json  variant, seed, dataset, no_trunc, min_fid, valid_is, max_is (each
                          {threshold, fid, is} of the means over the sweep seeds; threshold null =
                          untruncated), valid_is_real, trained (untruncated IS >= trained_is_fraction
                          x valid_is_real), trained_is_fraction, bn_stats, standing_passes,
                          standing_batch_size (null with running statistics), num_samples,
                          sweep_seeds (all of sweep.seeds for a trained model, else the first), thresholds, feature_net,
                          pr_features (precision/recall's feature space), model_dir,
                          model_iteration, timing (per point: threshold, sweep_seed, generation_s,
                          standing_s, features_s, metrics_s, wall_s), wall_s
and, once all of V's seeds are swept, <scores>/sweep/V.json: the Table 2 numbers as means over
the seeds (the small numeric summary DVC shows as metrics). A failed sweep leaves the others
running and V's scores unwritten. Exit status: 0 done; 2 bad params, unknown variant, or a
missing input (the message names the file and the stage that writes it).
"""
from __future__ import annotations

import argparse
import sys

from biggan.metrics.device import DEVICE_HELP
from biggan.sampling.executors import EXECUTORS
from biggan.sampling.jobs import run_all


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m stages.sweep", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every variant of the variants: section")
    which.add_argument("--variant", action="append", help="a key of the variants: section (repeatable)")
    p.add_argument("--seed", type=int, action="append", help="sweep only these seeds (repeatable)")
    p.add_argument("--models", default="models", help="model root (default: models)")
    p.add_argument("--out", default="metrics/sweep", help="output folder (default: metrics/sweep)")
    p.add_argument("--scores", default="metrics/scores", help="DVC metrics folder (default: metrics/scores)")
    p.add_argument("--jobs", type=int, help="sweeps at once in the pool (default: the number of cores, "
                                            "or of GPUs with CUDA)")
    p.add_argument("--refstats", help="reference statistics root (default: params eval.refstats_dir)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--executor", choices=EXECUTORS, default="auto",
                   help="auto (the default: Ray tasks on a Ray cluster with GPUs or several nodes, else the "
                        "pool), pool or ray")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads per sweep (default 1: much "
                                                           "faster for small models on a loaded machine)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    return run_all(a.params, None if a.all else a.variant, a.seed, out=a.out, scores=a.scores, executor=a.executor,
                   parallel=a.jobs, models=a.models, refstats=a.refstats, device=a.device, threads=a.threads,
                   progress=not a.no_progress)


if __name__ == "__main__":
    sys.exit(main())
