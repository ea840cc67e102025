"""The files that describe a finished split: classes.json, skipped.json and, last, index.json."""
from __future__ import annotations

import json
from pathlib import Path

from biggan.config.base import ConfigError
from biggan.config.data import DatasetConfig
from biggan.data.items import Item, Listing
from biggan.data.shard import state


class TooManySkipped(RuntimeError):
    """More inputs than max_skipped_fraction were skipped; index.json is not written.

    The journal and the completed shards stay: a rerun with a higher threshold reuses them."""

    def __init__(self, skipped: int, inputs: int, threshold: float, report: Path, name: str = ""):
        self.fraction, self.threshold, self.report = skipped / inputs, threshold, report
        key = f"datasets.{name}.max_skipped_fraction" if name else "max_skipped_fraction"
        super().__init__(
            f"{skipped} of {inputs} inputs skipped (fraction {self.fraction:.4g}, {self.fraction:.2%}): "
            f"above {key} {threshold}; the reasons are in {report}. The completed shards are "
            f"kept: rerun with a higher threshold to finish without redoing them")


def check_num_classes(shard_dir: Path, n_classes: int, key: str, params: str | Path | None = None) -> None:
    """ConfigError when finished shards hold another number of classes than the model has.

    For sources whose classes are only known on disk (image folders, manifests without
    top_k_labels); the train stage calls it before any run or checkpoint exists. Shards
    without an index.json are left to the loader to report."""
    index_path = Path(shard_dir) / state.INDEX
    try:
        n = json.loads(index_path.read_text()).get("num_classes")
    except (OSError, ValueError, AttributeError):
        return
    if isinstance(n, int) and n != n_classes:
        raise ConfigError(params, [f"{key}: {n_classes}, but the training shards hold {n} classes "
                                   f"({index_path})"])


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
    failed = [s for r in records for s in r["skipped"]] + tail    # unreadable or undecodable
    skipped_keys = {s["key"] for s in failed}
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

    # links and unsafe archive members (left out when listing) count as skipped inputs too
    skipped = listing.rejected + failed
    inputs = len(items) + len(listing.rejected)
    fraction = len(skipped) / inputs
    state.write_json(out / state.SKIPPED, {
        "inputs": inputs, "skipped": len(skipped), "fraction": fraction,
        "max_skipped_fraction": ds.max_skipped_fraction, "items": skipped})
    if fraction > ds.max_skipped_fraction:
        raise TooManySkipped(len(skipped), inputs, ds.max_skipped_fraction, out / state.SKIPPED, name)

    index = {
        "format": state.FORMAT, "dataset": name, "split": split,
        "num_samples": n_samples, "num_classes": n, "multi_label": multi_label,
        "resolution": ds.resolution, "encoding": ds.encoding,
        "inputs": inputs, "skipped": len(skipped),
        "shards": records, "class_counts": class_counts, "label_counts": label_counts,
        "source": listing.notes, "params": used, "params_sha256": fingerprint,
    }
    state.write_json(out / state.INDEX, index)
    (out / state.PROGRESS).unlink(missing_ok=True)
    return index
