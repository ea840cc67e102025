"""A small JFT-style multi-label stand-in derived from the embedded digits.

Every digit image gets its digit and derived labels:
  digit_<d>   the digit itself
  even / odd  parity
  small/large 0-4 / 5-9
  prime       2, 3, 5, 7
  loop        digits usually drawn with a closed loop: 0, 6, 8, 9
  straight    digits drawn with straight strokes only: 1, 4, 7
17 labels, long-tailed like JFT's (the derived ones cover 30-50 % of images, each digit ~10 %),
so a manifest source with top_k_labels < 17 drops digit labels (the least frequent first).
Each row carries the split of biggan.data.digits' seeded split, so train and val agree with
every other user of the digits.
"""
from __future__ import annotations

import json
import os
from pathlib import Path


from biggan.data.digits import load_digits_split
from biggan.data.sources.digits_source import png_bytes

RULES = {
    "even": {0, 2, 4, 6, 8}, "odd": {1, 3, 5, 7, 9},
    "small": {0, 1, 2, 3, 4}, "large": {5, 6, 7, 8, 9},
    "prime": {2, 3, 5, 7}, "loop": {0, 6, 8, 9}, "straight": {1, 4, 7},
}
MANIFEST = "manifest.jsonl"


def labels_of(digit: int) -> list[str]:
    return [f"digit_{digit}"] + [name for name, digits in RULES.items() if digit in digits]


def write_digits_multilabel(out: str | Path, val_fraction: float = 0.2, seed: int = 0) -> dict:
    """Write <out>/images/NNNN.png (8x8 grey originals), <out>/manifest.jsonl and labels.json.

    -> summary {images, train, val, label_counts}. Same arguments, same bytes.
    """
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for split in ("train", "val"):
        images, labels, idx = load_digits_split(split, val_fraction, seed)
        for im, y, i in zip(images, labels, idx):
            rel = f"images/{i:04d}.png"
            (out / rel).write_bytes(png_bytes(im))
            rows.append((int(i), {"path": rel, "labels": labels_of(int(y)), "split": split}))
    rows.sort(key=lambda r: r[0])
    counts: dict[str, int] = {}
    for _, row in rows:
        for label in row["labels"]:
            counts[label] = counts.get(label, 0) + 1
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text("".join(json.dumps(row, sort_keys=True) + "\n" for _, row in rows))
    os.replace(tmp, out / MANIFEST)
    rules = {name: sorted(d) for name, d in RULES.items()}
    (out / "labels.json").write_text(json.dumps(
        {"rules": rules, "digit_labels": "digit_<d> for d in 0..9", "val_fraction": val_fraction,
         "split_seed": seed, "label_counts": dict(sorted(counts.items()))}, indent=1) + "\n")
    n_val = sum(r["split"] == "val" for _, r in rows)
    return {"images": len(rows), "train": len(rows) - n_val, "val": n_val,
            "label_counts": dict(sorted(counts.items()))}


__all__ = ["RULES", "labels_of", "write_digits_multilabel"]
