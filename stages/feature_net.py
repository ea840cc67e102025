"""DVC stage: train the digits feature CNN (IS logits, FID features of the embedded default).

    python -m stages.feature_net --params params.yaml [--out data/feature_net]

Writes <out>/digits_net.pt (torch.load(weights_only=True)) and <out>/metrics.json. Fails
(exit 1, weights not written) when the held-out accuracy on any rendering of the digits val
split is below eval.digits_net.min_accuracy.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from biggan.config import ConfigError, load_params
from biggan.metrics.digits_net import checkpoint
from biggan.metrics.digits_train import train_digits_net
from biggan.metrics.feature_net import DIGITS_WEIGHTS

METRICS_FILE = "metrics.json"


def run(params_path: str, out: str | None = None) -> int:
    cfg = load_params(params_path).eval.digits_net
    out_dir = Path(out or cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    net, metrics = train_digits_net(cfg)
    metrics["min_accuracy"] = cfg.min_accuracy
    (out_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    worst = min(metrics["val_accuracy_by_rendering"].items(), key=lambda kv: kv[1])
    if worst[1] < cfg.min_accuracy:
        print(f"error: digits feature network reached held-out accuracy {worst[1]:.4f} on {worst[0]}, "
              f"below eval.digits_net.min_accuracy = {cfg.min_accuracy}; see {out_dir / METRICS_FILE}",
              file=sys.stderr)
        return 1
    torch.save(checkpoint(net), out_dir / DIGITS_WEIGHTS)
    print(f"digits feature network: val accuracy {metrics['val_accuracy']:.4f} "
          f"(worst rendering {worst[1]:.4f}) -> {out_dir / DIGITS_WEIGHTS}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--out", default=None, help="output folder (default: eval.digits_net.out_dir)")
    a = p.parse_args(argv)
    try:
        return run(a.params, a.out)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
