"""DVC stage: derive the multi-label digits stand-in (PNGs + JSONL manifest) for manifest sources.

    python -m stages.digits_manifest --params params.yaml [--digits DATASET] [--out DIR]

Default output: data/raw/digits_multilabel/{images/, manifest.jsonl, labels.json}. The
train/val split is that of a digits dataset in params (--digits, or the only one there;
the DigitsSource defaults when there is none), written into each manifest row.
"""
from __future__ import annotations

import argparse
import sys

DEFAULT_OUT = "data/raw/digits_multilabel"


def main(argv: list[str] | None = None) -> int:
    from biggan.config import ConfigError, load_params
    from biggan.config.data import DigitsSource
    from biggan.data.multilabel_digits import write_digits_multilabel

    p = argparse.ArgumentParser(prog="python -m stages.digits_manifest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--digits", help="digits dataset whose split to use")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    args = p.parse_args(argv)
    try:
        params = load_params(args.params)
        digits = {n: d.source for n, d in params.datasets.items() if isinstance(d.source, DigitsSource)}
        if args.digits is not None and args.digits not in digits:
            raise ConfigError(args.params, [f"datasets.{args.digits}: not a digits dataset; "
                                            f"allowed: {sorted(digits)}"])
        chosen = {args.digits: digits[args.digits]} if args.digits else digits
        splits = {(s.val_fraction, s.split_seed) for s in chosen.values()}
        if len(splits) > 1:
            raise ConfigError(args.params, [f"datasets: the digits datasets {sorted(chosen)} split "
                                            f"differently; choose one with --digits"])
        val_fraction, seed = splits.pop() if splits else (DigitsSource(kind="digits").val_fraction,
                                                          DigitsSource(kind="digits").split_seed)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary = write_digits_multilabel(args.out, val_fraction, seed)
    print(f"{args.out}: {summary['images']} images ({summary['train']} train, {summary['val']} val), "
          f"{len(summary['label_counts'])} labels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
