"""Figures of the results: truncation curves (the paper's IS-vs-FID plot), sigma0 over training and the
collapse study over training."""
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
    """IS against FID along each model's sweep (one line per seed, means over its sweep seeds;
    untruncated point circled)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5.5))
    cmap = plt.get_cmap("tab20")
    for i, (variant, runs) in enumerate(groups.items()):
        color = cmap(i % 20)
        for j, r in enumerate(runs):
            pts = r.sweep_means()
            trunc = [p for p in pts if not _untruncated(p)]
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


def collapse_figure(study: dict[str, list[RunRecord]], path: Path) -> Path:
    """The collapse study over training, one line per run coloured by configuration: FID of G_ema,
    G's max sigma0 over its weights (the detector's statistic), D's loss, and D's accuracy on its
    training images (solid) and held-out ones (dashed); each collapse onset marked."""
    from biggan.report.collapse_study import g_weights_max

    plt = _pyplot()
    fig, axes = plt.subplots(4, 1, figsize=(9, 11), sharex=True)
    cmap = plt.get_cmap("tab10")
    for i, (variant, runs) in enumerate(study.items()):
        color = cmap(i % 10)
        for j, r in enumerate(runs):
            label = (r.spec.info.label or variant) if j == 0 else None
            ev = r.history("evals")
            axes[0].plot([e["iteration"] for e in ev], [e["fid"] for e in ev], color=color, lw=1, label=label)
            sig = [(row["iteration"], g_weights_max(row)) for row in r.history("sigma0")]
            axes[1].plot([t for t, v in sig if v is not None], [v for t, v in sig if v is not None], color=color, lw=1)
            loss = [(row["iteration"], row["d_loss"]) for row in r.history("losses") if row.get("d_loss") is not None]
            axes[2].plot([t for t, _ in loss], [v for _, v in loss], color=color, lw=0.6, alpha=0.7)
            acc = [e for e in ev if e.get("d_acc_train") is not None]
            axes[3].plot([e["iteration"] for e in acc], [e["d_acc_train"] for e in acc], color=color, lw=1)
            axes[3].plot([e["iteration"] for e in acc if e.get("d_acc_val") is not None],
                         [e["d_acc_val"] for e in acc if e.get("d_acc_val") is not None], color=color, lw=1, ls="--")
            if r.train.get("collapsed"):
                for ax in axes:
                    ax.axvline(r.train["collapse_iteration"], color=color, ls=":", lw=0.8)
    for ax, title, log in zip(axes, ("FID of G_ema", "G: max sigma0 over conv/linear weights", "D loss (hinge)",
                                     "D accuracy: training images (solid), held out (dashed)"),
                              (True, True, False, False)):
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        if log:
            ax.set_yscale("log")
    if study:
        axes[0].legend(fontsize=7)
    axes[-1].set_xlabel("iteration (dotted: collapse onsets)")
    fig.suptitle("Collapse study: every run over training")
    out = _save(fig, path)
    plt.close(fig)
    return out
