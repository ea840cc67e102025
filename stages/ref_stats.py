"""DVC stage: reference statistics of a dataset's real training images, and valid IS/FID.

    python -m stages.ref_stats --params params.yaml --dataset NAME [--shards data/shards] \
        [--out data/refstats/NAME] [--device auto]

Reads the shards (<shards>/NAME/train, and <shards>/NAME/val when the dataset has a val split),
i.e. the images exactly as training sees them, through the feature network of eval.feature_net.
Writes <out>/train_stats.npz (ReferenceStats) and <out>/metrics.json. `--device auto` (the
default) extracts features on CUDA when present, else on the CPU.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from biggan.config import ConfigError, load_params
from biggan.data.layout import SHARDS, shard_dir
from biggan.metrics.device import DEVICE_HELP, resolve_device
from biggan.metrics.feature_net import load_feature_net
from biggan.metrics.refstats import METRICS_FILE, STATS_FILE, compute_reference


def split_batches(shard_dir: Path, batch_size: int) -> tuple[Iterator, int]:
    """uint8 batches of one shard split, in shard order, and their number of samples."""
    from biggan.data.loader import iter_split, read_index

    return iter_split(shard_dir, batch_size), int(read_index(shard_dir)["num_samples"])


def run(params_path: str, dataset: str, shards: str = SHARDS, out: str | None = None,
        device: str = "auto", progress: bool = True) -> int:
    params = load_params(params_path)
    if dataset not in params.datasets:
        raise ConfigError(params_path, [f"datasets.{dataset}: no such dataset; allowed: {sorted(params.datasets)}"])
    cfg = params.eval
    net = load_feature_net(cfg, resolve_device(device))
    train, n_train = split_batches(shard_dir(dataset, "train", shards), cfg.batch_size)
    has_val = "val" in params.datasets[dataset].splits
    val, n_val = split_batches(shard_dir(dataset, "val", shards), cfg.batch_size) if has_val else (None, None)
    ref, metrics = compute_reference(net, train, val, cfg, progress=progress, totals=(n_train, n_val))
    out_dir = Path(out) if out else Path(cfg.refstats_dir) / dataset
    ref.save(out_dir / STATS_FILE)
    metrics = {"dataset": dataset, **metrics}
    (out_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--dataset", required=True, help="a key of params `datasets:`")
    p.add_argument("--shards", default=SHARDS, help=f"root of the shard folders (default: {SHARDS})")
    p.add_argument("--out", default=None, help="output folder (default: <eval.refstats_dir>/<dataset>)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    from biggan.data.loader import CorruptShardError

    try:
        return run(a.params, a.dataset, a.shards, a.out, a.device, not a.no_progress)
    except (ConfigError, FileNotFoundError, CorruptShardError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
