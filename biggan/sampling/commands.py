"""`python -m biggan sample`: the four sample sheets of a trained generator, as PNGs.

    python -m biggan sample (--model DIR | --model-uri URI [--tracking-uri URI]) [--out DIR]
        [--seed N] [--truncation T] [--per-class K] [--classes C] [--strip-thresholds 2,1,0.5,0.04]
        [--rows R] [--steps S] [--scale X] [--device cpu]

Writes <out>/classes.png (one row per class, --per-class samples each, the same z per column),
truncation.png (each row one z truncated at --strip-thresholds, left to right: the paper's
figure 2a), z_interpolation.png and class_interpolation.png (--rows paths of --steps images),
and prints their paths. --truncation applies to the class sheet and both interpolations
(default: none, z ~ N(0, I)); truncation is the paper's: |z_i| > T resampled.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

STRIP_THRESHOLDS = (2.0, 1.0, 0.5, 0.04)     # the paper's figure 2a
SHEETS = ("classes", "truncation", "z_interpolation", "class_interpolation")


def _thresholds(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"thresholds must be >= 0 (0 means z = 0), got {text!r}")
    return values


def _truncation(text: str) -> float | None:
    if text.lower() in ("none", ""):
        return None
    v = float(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"truncation must be >= 0 or none, got {text!r}")
    return v


def _positive(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="model folder of the train stage (G_ema.pt + model.json)")
    src.add_argument("--model-uri",
                     help="MLflow model URI: models:/NAME@champion, models:/NAME/VERSION, runs:/ID/G_ema")
    p.add_argument("--tracking-uri", help="MLflow store of --model-uri (default: MLFLOW_TRACKING_URI, else "
                                          "sqlite:///mlflow.db in the working directory)")
    p.add_argument("--out", default="samples", help="output folder (default: samples)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--truncation", type=_truncation, default=None,
                   help="threshold of the class sheet and interpolations (default: none)")
    p.add_argument("--per-class", type=_positive, default=8, help="samples per class row (default: 8)")
    p.add_argument("--classes", type=_positive, default=16,
                   help="class rows of the class sheet: the first C classes (default: 16, at most n_classes)")
    p.add_argument("--strip-thresholds", type=_thresholds, default=list(STRIP_THRESHOLDS),
                   help="columns of the truncation strip (default: 2,1,0.5,0.04 as the paper's figure 2a)")
    p.add_argument("--rows", type=_positive, default=6, help="rows of the strip and interpolations (default: 6)")
    p.add_argument("--steps", type=_positive, default=8, help="images per interpolation path (default: 8)")
    p.add_argument("--scale", type=_positive, default=2, help="nearest-neighbour upscaling of the PNGs (default: 2)")
    p.add_argument("--device", default="cpu")


def write_sheets(G, out_dir: str | Path, *, seed: int = 0, truncation: float | None = None, per_class: int = 8,
                 classes: int = 16, strip_thresholds=STRIP_THRESHOLDS, rows: int = 6, steps: int = 8,
                 scale: int = 2) -> dict[str, Path]:
    """Write the four sheets (SHEETS) of G under out_dir; -> name -> path."""
    import torch

    from biggan.sampling import sheets

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    G.eval()
    n_show = min(G.n_classes, classes)
    with torch.no_grad():
        made = {
            "classes": (sheets.class_sheet(G, G.n_classes, per_class, truncation, seed, range(n_show)), n_show),
            "truncation": (sheets.truncation_strip(G, rows, list(strip_thresholds), seed), rows),
            "z_interpolation": (sheets.z_interpolation(G, rows, steps, seed, truncation), rows),
            "class_interpolation": (sheets.class_interpolation(G, rows, steps, seed, truncation), rows),
        }
    paths = {}
    for name in SHEETS:
        images, n_rows = made[name]
        paths[name] = out / f"{name}.png"
        tmp = out / f".{name}.png.tmp"
        sheets.grid(images, n_rows, scale=scale).save(tmp, format="PNG")
        tmp.replace(paths[name])
    return paths


def sample_command(args: argparse.Namespace) -> int:
    from biggan.sampling.load import load_model_dir, load_model_uri

    try:
        if args.model_uri:
            G = load_model_uri(args.model_uri, args.tracking_uri, args.device)
        else:
            G = load_model_dir(args.model, args.device)[0]
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if G.n_classes < 2:
        print("error: class interpolation needs a generator with at least 2 classes", file=sys.stderr)
        return 2
    paths = write_sheets(G, args.out, seed=args.seed, truncation=args.truncation, per_class=args.per_class,
                         classes=args.classes, strip_thresholds=args.strip_thresholds, rows=args.rows,
                         steps=args.steps, scale=args.scale)
    for path in paths.values():
        print(path)
    return 0
