"""DVC stage: shard the splits of a dataset into WebDataset tars.

    python -m stages.shard --params params.yaml --dataset NAME [--split train|val ...] [--out DIR]

Both splits by default, one after the other in this process (one stage per dataset: the
stage's start-up, ~6 s of imports, is paid once). Default output: data/shards/NAME/SPLIT, or
DIR/SPLIT (declare data/shards/NAME `persist: true` in dvc.yaml: the stage
verifies and reuses complete shards itself, so a killed run resumes). Exit status: 0 done,
2 bad params or raw data that cannot be listed, 3 more inputs skipped than
max_skipped_fraction allows (see skipped.json; the completed shards are kept, so a rerun with
a higher threshold finishes without redoing them). A crash exits 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_TOO_MANY_SKIPPED = 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m stages.shard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    p.add_argument("--dataset", required=True, help="a key of the datasets: section")
    p.add_argument("--split", action="append", choices=["train", "val"],
                   help="a split to shard (repeatable; default: both)")
    p.add_argument("--out", help="output folder; each split goes to OUT/SPLIT (default: data/shards/DATASET)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    # imported here: worker processes (spawn) re-import this module and need none of it
    from biggan.config import ConfigError, load_params
    from biggan.data.items import SourceError
    from biggan.data.layout import shard_dir
    from biggan.data.shard.build import build_shards
    from biggan.data.shard.report import TooManySkipped

    args = parse_args(argv)
    try:
        params = load_params(args.params)
        if args.dataset not in params.datasets:
            raise ConfigError(args.params, [f"datasets.{args.dataset}: no such dataset; "
                                            f"allowed: {sorted(params.datasets)}"])
        ds = params.datasets[args.dataset]
        for split in args.split or ["train", "val"]:
            out = Path(args.out) / split if args.out else shard_dir(args.dataset, split)
            index = build_shards(ds, split, out, name=args.dataset, progress=not args.no_progress)
            print(f"{out}: {index['num_samples']} samples in {len(index['shards'])} shards, "
                  f"{index['skipped']} skipped, {index['num_classes']} classes")
    except (ConfigError, SourceError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TooManySkipped as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_TOO_MANY_SKIPPED
    return 0


if __name__ == "__main__":
    sys.exit(main())
