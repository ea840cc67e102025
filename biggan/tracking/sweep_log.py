"""A truncation sweep's results on the MLflow run of the model it scored (Table 2 in the UI).

The run is the one in the model folder's model.json (`mlflow_run_id`, written by the train
stage). Metrics, named after Table 2's columns (threshold = the truncation threshold of that
point; none for the untruncated point):

    sweep_fid_untruncated, sweep_is_untruncated              no truncation
    sweep_fid_min, sweep_is_at_fid_min, sweep_threshold_at_fid_min         best FID
    sweep_is_valid, sweep_fid_at_is_valid, sweep_threshold_at_is_valid     IS of real val images
    sweep_is_max, sweep_fid_at_is_max, sweep_threshold_at_is_max           best IS

and artifacts sweep/<name>.csv (every point) and sweep/<name>.png (IS against FID).
Logging is best effort: the sweep's own outputs are DVC's record; a store that cannot be
reached gives a warning, never a failed stage.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

# sweep summary entry -> (FID metric, IS metric, threshold metric)
METRICS = {
    "no_trunc": ("sweep_fid_untruncated", "sweep_is_untruncated", None),
    "min_fid": ("sweep_fid_min", "sweep_is_at_fid_min", "sweep_threshold_at_fid_min"),
    "valid_is": ("sweep_fid_at_is_valid", "sweep_is_valid", "sweep_threshold_at_is_valid"),
    "max_is": ("sweep_fid_at_is_max", "sweep_is_max", "sweep_threshold_at_is_max"),
}


def sweep_metrics(summary: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for entry, (fid_key, is_key, t_key) in METRICS.items():
        e = summary.get(entry)
        if not e:
            continue
        out[fid_key], out[is_key] = float(e["fid"]), float(e["is"])
        if t_key and e.get("threshold") is not None:
            out[t_key] = float(e["threshold"])
    return out


def plot(rows: list[dict], title: str, path: Path) -> Path:
    """IS (y) against FID (x) over the thresholds (the first sweep seed's points); the untruncated
    point marked."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if str(r.get("sweep_seed")) == str(rows[0].get("sweep_seed"))] if rows else rows

    trunc = sorted((r for r in rows if r.get("threshold") not in (None, "")), key=lambda r: float(r["threshold"]))
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([float(r["fid"]) for r in trunc], [float(r["is_mean"]) for r in trunc], "o-", label="truncated")
    for r in trunc:
        ax.annotate(f"{float(r['threshold']):g}", (float(r["fid"]), float(r["is_mean"])), fontsize=7)
    for r in rows:
        if r.get("threshold") in (None, ""):
            ax.plot(float(r["fid"]), float(r["is_mean"]), "s", color="k", label="untruncated")
    ax.set_xlabel("FID")
    ax.set_ylabel("IS")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def log_sweep(uri: str, run_id: str, name: str, summary: dict, rows: list[dict], csv_path: Path) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from biggan.tracking.mlflow_run import quick_http

    quick_http()
    client = MlflowClient(uri)
    step = int(summary.get("model_iteration") or 0)
    client.log_batch(run_id, metrics=[Metric(k, v, 0, step) for k, v in sweep_metrics(summary).items()])
    with tempfile.TemporaryDirectory(prefix="biggan_sweep_") as d:
        png = plot(rows, name, Path(d) / f"{name}.png")
        client.log_artifact(run_id, str(csv_path), artifact_path="sweep")
        client.log_artifact(run_id, str(png), artifact_path="sweep")


def log_sweep_to_run(configured_uri: str, root: Path, model_doc: dict, name: str, summary: dict,
                     rows: list[dict], csv_path: Path) -> str:
    """Log to the model's run; -> a one-line outcome (what was logged, or why not)."""
    from biggan.tracking.mlflow_run import redact, redact_text, resolve_uri

    run_id = model_doc.get("mlflow_run_id")
    if not run_id:
        return "not logged to MLflow: the model folder's model.json has no mlflow_run_id (trained untracked)"
    uri = resolve_uri(configured_uri, root)
    try:
        log_sweep(uri, run_id, name, summary, rows, csv_path)
    except Exception as e:
        return redact_text(f"warning: sweep not logged to MLflow run {run_id} at {uri}: {type(e).__name__}: {e}",
                           uri)[:500]
    return f"logged to MLflow run {run_id} at {redact(uri)}"
