"""The files that describe a finished split: classes.json, skipped.json and, last, index.json."""
from __future__ import annotations

from pathlib import Path

from biggan.config.data import DatasetConfig
from biggan.data.items import Item, Listing
from biggan.data.shard import state


class TooManySkipped(RuntimeError):
    """More inputs than max_skipped_fraction could not be read; index.json is not written."""


def classes_doc(listing: Listing, multi_label: bool) -> dict:
    rows = []
    for i, c in enumerate(listing.classes):
        row = {"index": i, "id": c.id, "name": c.name}
        if c.count is not None:
            row["frequency"] = c.count
        rows.append(row)
    return {"num_classes": len(rows), "multi_label": multi_label, "classes": rows}


def finish(out: Path, listing: Listing, items: list[Item], records: list[dict], tail: list[dict],
           ds: DatasetConfig, split: str, name: str, used: dict, fingerprint: str) -> dict:
    skipped = [s for r in records for s in r["skipped"]] + tail
    skipped_keys = {s["key"] for s in skipped}
    written = [it for it in items if it.key not in skipped_keys]
    n_samples = sum(r["count"] for r in records)
    if n_samples != len(written):
        raise RuntimeError(f"{out}: shards hold {n_samples} samples but {len(written)} inputs were written")
    n = len(listing.classes)
    class_counts, label_counts = [0] * n, [0] * n
    for it in written:
        class_counts[it.classes[0]] += 1
        for c in it.classes:
            label_counts[c] += 1
    multi_label = any(len(it.classes) > 1 for it in written)
    state.write_json(out / state.CLASSES, classes_doc(listing, multi_label))

    fraction = len(skipped) / len(items)
    state.write_json(out / state.SKIPPED, {
        "inputs": len(items), "skipped": len(skipped), "fraction": fraction,
        "max_skipped_fraction": ds.max_skipped_fraction, "items": skipped})
    if fraction > ds.max_skipped_fraction:
        raise TooManySkipped(
            f"{len(skipped)} of {len(items)} inputs ({fraction:.2%}) could not be read or decoded, "
            f"above max_skipped_fraction {ds.max_skipped_fraction}; see {out / state.SKIPPED}")

    index = {
        "format": state.FORMAT, "dataset": name, "split": split,
        "num_samples": n_samples, "num_classes": n, "multi_label": multi_label,
        "resolution": ds.resolution, "encoding": ds.encoding,
        "inputs": len(items), "skipped": len(skipped),
        "shards": records, "class_counts": class_counts, "label_counts": label_counts,
        "source": listing.notes, "params": used, "params_sha256": fingerprint,
    }
    state.write_json(out / state.INDEX, index)
    (out / state.PROGRESS).unlink(missing_ok=True)
    return index
