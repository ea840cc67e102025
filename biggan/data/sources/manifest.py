"""JFT-style multi-label manifests: JSONL or CSV rows of (path, labels, optional split).

JSONL: {"path": "img/0001.png", "labels": ["dog", "animal"], "split": "train"}
CSV:   header `path,labels[,split]`, labels separated by ';'.
Label frequencies are counted over the whole manifest (both splits) so train and val share one
label map: the K most frequent labels are kept, class index = frequency rank, ties by name.
Rows left without a kept label are dropped (counted in index.json). A row's `split` wins;
rows without one are assigned by a seeded hash of their path (val below val_fraction).
"""
from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from biggan.config.data import ManifestSource
from biggan.data.items import ClassInfo, Item, Listing, SourceError, hashed_split, make_key

CSV_LABEL_SEP = ";"


@dataclass(frozen=True)
class Row:
    path: str
    labels: tuple[str, ...]
    split: str | None
    where: str                    # file:line for errors


def _row(raw: dict, where: str) -> Row:
    path, labels, split = raw.get("path"), raw.get("labels"), raw.get("split") or None
    if not isinstance(path, str) or not path:
        raise SourceError(f"{where}: missing or empty 'path'")
    if isinstance(labels, str):
        labels = labels.split(CSV_LABEL_SEP)
    if not isinstance(labels, list) or not all(isinstance(s, str) for s in labels):
        raise SourceError(f"{where}: 'labels' must be a list of strings (got {labels!r})")
    labels = [s.strip() for s in labels if s.strip()]
    if not labels:
        raise SourceError(f"{where}: no labels")
    if split not in (None, "train", "val"):
        raise SourceError(f"{where}: split {split!r} is not train or val")
    return Row(path, tuple(dict.fromkeys(labels)), split, where)


def read_manifest(path: Path) -> list[Row]:
    if not path.is_file():
        raise SourceError(f"manifest not found: {path}")
    rows = []
    if path.suffix.lower() == ".csv":
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"path", "labels"} <= set(reader.fieldnames):
                raise SourceError(f"{path}: expected a header with columns path,labels[,split]")
            rows = [_row(r, f"{path}:{n}") for n, r in enumerate(reader, start=2)]
    else:
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as e:
                raise SourceError(f"{path}:{n}: not valid JSON ({e.msg})") from None
            if not isinstance(raw, dict):
                raise SourceError(f"{path}:{n}: expected an object")
            rows.append(_row(raw, f"{path}:{n}"))
    if not rows:
        raise SourceError(f"manifest has no rows: {path}")
    return rows


def label_map(rows: list[Row], top_k: int | None, where: str) -> list[ClassInfo]:
    counts = Counter(label for r in rows for label in r.labels)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if top_k is not None:
        if top_k > len(ranked):
            raise SourceError(f"source.top_k_labels is {top_k}, but {where} has only "
                              f"{len(ranked)} distinct labels")
        ranked = ranked[:top_k]
    return [ClassInfo(label, count=n) for label, n in ranked]


def list_manifest(src: ManifestSource, split: str) -> Listing:
    path = Path(src.path)
    root = Path(src.root) if src.root is not None else path.parent
    rows = read_manifest(path)
    classes = label_map(rows, src.top_k_labels, str(path))
    index = {c.id: i for i, c in enumerate(classes)}
    items, dropped = [], 0
    for r in rows:
        row_split = r.split or hashed_split(r.path, src.val_fraction, src.split_seed)
        if row_split != split:
            continue
        kept = tuple(sorted(index[label] for label in r.labels if label in index))
        if not kept:
            dropped += 1
            continue
        file = Path(r.path) if Path(r.path).is_absolute() else root / r.path
        items.append(Item(key=make_key(r.path), classes=kept, labels=r.labels, origin=r.path,
                          path=str(file)))
    return Listing(items, classes, {"rows_without_kept_label": dropped})
