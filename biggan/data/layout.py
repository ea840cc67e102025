"""Where the pipeline keeps its shards, relative to the repository root.

dvc.yaml spells the same folder in its deps and outs (`data/shards/<dataset>`); every Python
path to a shard split is built here, from a shard root the stage may take as `--shards`.
"""
from __future__ import annotations

from pathlib import Path

SHARDS = "data/shards"              # <SHARDS>/<dataset>/<split>/shard-NNNNNN.tar + index.json


def shard_dir(dataset: str, split: str = "train", shards: str | Path = SHARDS) -> Path:
    """The folder of one split's shards: <shards>/<dataset>/<split>."""
    return Path(shards) / dataset / split
