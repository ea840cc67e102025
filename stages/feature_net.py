"""DVC stage: the feature network of eval.feature_net.

    python -m stages.feature_net --params params.yaml [--out data/feature_net] \
        [--metrics metrics/feature_net.json]

digits:    train the digits CNN (IS logits, FID features of the embedded default) on the
           train/val split of the digits datasets (their source.val_fraction / split_seed, the
           split their shards use; they must agree); writes <out>/digits_net.pt (torch.load(weights_only=True)) and <out>/metrics.json. Fails
           (exit 1, weights not written) when the held-out accuracy on any rendering of the
           digits val split is below eval.digits_net.min_accuracy.
inception: check the local FID Inception weights (eval.inception_weights): present, sha256
           equal to eval.inception_sha256, and strictly loadable; writes <out>/metrics.json.
           Exit 2 with the file named and how to obtain it when missing or wrong.
With --metrics, the metrics JSON is also written there (for `dvc metrics show`).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from biggan.config import ConfigError, load_params

METRICS_FILE = "metrics.json"


def _digits(cfg, split: tuple[float, int], out_dir: Path) -> tuple[int, dict]:
    import torch

    from biggan.metrics.digits_net import checkpoint
    from biggan.metrics.digits_train import train_digits_net
    from biggan.metrics.feature_net import DIGITS_WEIGHTS

    net, metrics = train_digits_net(cfg.digits_net, *split)
    metrics = {"feature_net": "digits", **metrics, "min_accuracy": cfg.digits_net.min_accuracy}
    worst = min(metrics["val_accuracy_by_rendering"].items(), key=lambda kv: kv[1])
    if worst[1] < cfg.digits_net.min_accuracy:
        print(f"error: digits feature network reached held-out accuracy {worst[1]:.4f} on {worst[0]}, "
              f"below eval.digits_net.min_accuracy = {cfg.digits_net.min_accuracy}; see {out_dir / METRICS_FILE}",
              file=sys.stderr)
        return 1, metrics
    (out_dir / DIGITS_WEIGHTS).unlink(missing_ok=True)
    torch.save(checkpoint(net), out_dir / DIGITS_WEIGHTS)
    print(f"digits feature network: val accuracy {metrics['val_accuracy']:.4f} "
          f"(worst rendering {worst[1]:.4f}) -> {out_dir / DIGITS_WEIGHTS}")
    return 0, metrics


def _inception(cfg) -> tuple[int, dict]:
    from biggan.metrics.inception import load_inception

    net, digest = load_inception(cfg.inception_weights, cfg.inception_sha256)
    n = sum(p.numel() for p in net.parameters())
    print(f"FID Inception weights {cfg.inception_weights}: sha256 ok, {n:,} parameters")
    return 0, {"feature_net": "inception", "weights": str(cfg.inception_weights), "sha256": digest,
               "parameters": n}


def run(params_path: str, out: str | None = None, metrics_path: str | None = None) -> int:
    params = load_params(params_path)
    cfg = params.eval
    if cfg.feature_net == "digits":
        from biggan.metrics.digits_train import digits_split
        try:
            split = digits_split(params.datasets)
        except ValueError as e:
            raise ConfigError(params_path, [f"datasets: {e}"]) from None
    out_dir = Path(out or cfg.digits_net.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rc, metrics = _digits(cfg, split, out_dir) if cfg.feature_net == "digits" else _inception(cfg)
    # the output every later stage depends on holds no timings: a rerun that trains the same
    # weights leaves it byte-identical, so DVC reruns nothing downstream (the record keeps them)
    stable = {k: v for k, v in metrics.items() if not k.endswith("_seconds")}
    (out_dir / METRICS_FILE).write_text(json.dumps(stable, indent=2) + "\n")
    if metrics_path:
        Path(metrics_path).parent.mkdir(parents=True, exist_ok=True)
        Path(metrics_path).write_text(json.dumps(metrics, indent=2) + "\n")
    return rc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--out", default=None, help="output folder (default: eval.digits_net.out_dir)")
    p.add_argument("--metrics", default=None, help="also write the metrics JSON here (dvc.yaml: metrics/feature_net.json)")
    a = p.parse_args(argv)
    try:
        return run(a.params, a.out, a.metrics)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
