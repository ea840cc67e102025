"""Figures of the results: truncation curves (the paper's IS-vs-FID plot) and sigma0 over training."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from biggan.report.collect import RunRecord


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> Path:
    from biggan.files import atomic_write

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return atomic_write(Path(path), lambda f: f.write(buf.getvalue()))


def truncation_curves(groups: dict[str, list[RunRecord]], path: Path) -> Path:
    """IS against FID along each model's sweep (one line per seed; untruncated point circled)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    cmap = plt.get_cmap("tab20")
    for i, (variant, runs) in enumerate(groups.items()):
        color = cmap(i % 20)
        for j, r in enumerate(runs):
            pts = [row for row in r.sweep_rows if row.get("fid") is not None]
            trunc = sorted((row for row in pts if not _untruncated(row)), key=lambda row: -row["threshold"])
            label = (r.spec.info.label or variant) if j == 0 else None
            ax.plot([p["fid"] for p in trunc], [p["is_mean"] for p in trunc], "-o", ms=3, color=color,
                    alpha=0.85, label=label)
            free = [p for p in pts if _untruncated(p)]
            if free:
                ax.plot(free[0]["fid"], free[0]["is_mean"], "o", ms=8, mfc="none", color=color)
    ax.set_xlabel("FID (lower is better)")
    ax.set_ylabel("IS (higher is better)")
    ax.set_title("Truncation sweeps: IS vs FID (circle: no truncation; threshold falls along each line)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    out = _save(fig, path)
    plt.close(fig)
    return out


def _untruncated(row: dict) -> bool:
    th = row.get("threshold")
    return isinstance(th, bool) or not isinstance(th, (int, float))


def read_sigma0(path: Path) -> tuple[list[int], dict[str, list[float]]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    its = [int(r["iteration"]) for r in rows]
    layers = {k: [float(r[k]) if r[k] else float("nan") for r in rows] for k in (rows[0] if rows else {})
              if k != "iteration"}
    return its, layers


def sigma0_figure(groups: dict[str, list[RunRecord]], path: Path, variant: str | None = None) -> Path:
    """sigma0 of every G and D layer over training for one run (default: the first Table 2 model)."""
    plt = _pyplot()
    chosen = variant or next((v for v, runs in groups.items() if 2 in runs[0].spec.info.tables), next(iter(groups)))
    run = groups[chosen][0]
    its, layers = read_sigma0(run.train_path.with_name(f"{run.train_path.stem}.sigma0.csv"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, net in zip(axes, ("G", "D")):
        names = [k for k in layers if k.startswith(net + "/")]
        cmap = plt.get_cmap("viridis")
        for i, k in enumerate(names):
            ax.plot(its, layers[k], color=cmap(i / max(1, len(names) - 1)), lw=1)
        ax.set_title(f"{net}: sigma0 per layer ({len(names)} layers; dark = first)")
        ax.set_xlabel("iteration")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    collapse = run.train.get("collapse_iteration")
    for ax in axes:
        if collapse is not None:
            ax.axvline(collapse, color="red", ls="--", lw=1)
    fig.suptitle(f"Top singular value of each layer over training: {run.spec.run_name}"
                 + (f" (collapse at {collapse})" if collapse is not None else ""))
    out = _save(fig, path)
    plt.close(fig)
    return out
