"""What makes existing shards reusable: the params fingerprint, and per shard the range of
shuffled inputs it covers, their keys, the sha256 of their bytes and of the tar itself.

DVC keeps shard outputs across reruns (persist: true), so nothing in the output folder is
trusted: a shard is reused only while every check above holds for it and all shards before it
(shard boundaries depend on the sizes of earlier samples). Everything else is deleted.
The journal (_progress.json) is rewritten after each shard; index.json replaces it at the end.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from biggan import files
from biggan.config.data import DatasetConfig
from biggan.data.items import Item
from biggan.data.shard.tarout import TMP_SUFFIX, file_sha256, shard_name

FORMAT = 1
INDEX, SKIPPED, CLASSES, PROGRESS = "index.json", "skipped.json", "classes.json", "_progress.json"
# params that cannot change a single byte of the shards
NOT_FINGERPRINTED = {"workers", "max_skipped_fraction", "splits"}


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha256_of(obj) -> str:
    return hashlib.sha256(canonical(obj)).hexdigest()


def params_fingerprint(ds: DatasetConfig, split: str) -> tuple[dict, str]:
    """-> (the params that shape the shards, their sha256)."""
    used = ds.model_dump(mode="json", exclude=NOT_FINGERPRINTED)
    return used, sha256_of({"format": FORMAT, "split": split, "params": used})


def keys_sha256(keys: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def inputs_sha256(keyed_digests: Iterable[tuple[str, str]]) -> str:
    return hashlib.sha256("\n".join(f"{k} {d}" for k, d in keyed_digests).encode()).hexdigest()


def write_json(path: Path, obj) -> None:
    """Atomic and durable: a reader sees the old file or the new one, never half of one."""
    files.write_bytes(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode(), TMP_SUFFIX)


def load_previous(out: Path) -> dict | None:
    for name in (INDEX, PROGRESS):
        try:
            state = json.loads((out / name).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(state, dict) and isinstance(state.get("shards"), list):
            return state
    return None


def reusable_shards(prev: dict | None, fingerprint: str, items: Sequence[Item], out: Path,
                    digests: Callable[[Sequence[Item]], list[str]]) -> list[dict]:
    """The longest prefix of `prev`'s shards that an uninterrupted run would write again."""
    if prev is None or prev.get("params_sha256") != fingerprint:
        return []
    candidates, pos = [], 0
    for i, rec in enumerate(prev["shards"]):
        try:
            ok = (rec["name"] == shard_name(i) and rec["first"] == pos and pos < rec["end"] <= len(items)
                  and keys_sha256(it.key for it in items[pos:rec["end"]]) == rec["keys_sha256"])
            path = out / rec["name"]
            ok = ok and path.is_file() and path.stat().st_size == rec["bytes"] \
                and file_sha256(path) == rec["sha256"]
        except (KeyError, TypeError):
            ok = False
        if not ok:
            break
        candidates.append(rec)
        pos = rec["end"]
    if not candidates:
        return []
    # the inputs may have changed in place since: compare their content, shard by shard
    found = digests(items[:pos])
    kept = []
    for rec in candidates:
        lo, hi = rec["first"], rec["end"]
        if inputs_sha256((it.key, d) for it, d in zip(items[lo:hi], found[lo:hi])) != rec["inputs_sha256"]:
            break
        kept.append(rec)
    return kept


def clean(out: Path, keep: set[str]) -> list[str]:
    """Delete stale shards, temporary files and finished-run markers; -> names removed."""
    removed = []
    for p in sorted(out.iterdir()):
        stale_shard = p.name.startswith("shard-") and p.name.endswith(".tar") and p.name not in keep
        if stale_shard or p.name.endswith(TMP_SUFFIX) or p.name in (INDEX, SKIPPED, CLASSES):
            p.unlink()
            removed.append(p.name)
    return removed
