"""The train stage's MLflow run: open (or continue) it before training, finish it after.

    open_training_run    tags (variant, seed, MLflow's source tags, git revision, DVC
                         experiment), params, the shards the run reads (`shard_dir`, the
                         stage's --shards) as its dataset input; the run id goes to
                         <run dir>/mlflow_run.json (URI without credentials)
    finish_training_run  summary metrics, history CSVs, the selected G_ema as a model folder;
                         never raises: what could not be logged is printed as a warning and
                         listed under `not_logged` in mlflow_run.json, and the stage goes on to
                         write its outputs (exit 0)
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from biggan.files import write_json, write_torch
from biggan.tracking import mlflow_run as mr

RUN_FILE = "mlflow_run.json"
ENTRY_POINT = "stages/train.py"
SUMMARY_METRICS = ("fid_best", "fid_best_iteration", "is_best", "is_best_iteration", "is_at_fid_best",
                   "collapse_iteration", "stable_to", "itr", "iterations_done", "params_m", "images_per_s",
                   "model_iteration")


def open_training_run(spec, root: Path, uri: str, name: str, run_dir: Path, stage: str | None,
                      shard_dir: Path | None = None) -> str:
    mr.quick_http()
    ref = run_dir / RUN_FILE
    previous = json.loads(ref.read_text())["run_id"] if ref.is_file() else None
    tags = {"variant": spec.variant, "seed": spec.seed, "dataset": spec.dataset_name,
            "dvc_stage": stage or os.environ.get("DVC_STAGE", "(none)"), "ray_run_name": name,
            "config_hash": name.rsplit("-", 1)[1], "launcher": spec.train.launcher,
            "paper_row": ",".join(spec.info.paper_rows), "label": spec.info.label or spec.variant,
            **mr.source_tags(root, ENTRY_POINT)}
    tags["git_commit"] = tags["biggan.git_revision"]
    params = {"variant": spec.variant, "seed": spec.seed, "dataset": spec.dataset.model_dump(mode="json"),
              "model": spec.model.model_dump(mode="json"), "train": spec.train.model_dump(mode="json")}
    if spec.train.evaluate:
        params["eval"] = spec.eval.model_dump(mode="json")
    run_id, resumed = mr.open_run(uri, spec.tracking.experiment, spec.run_name, tags, params, previous)
    if not resumed and shard_dir is not None:
        mr.log_dataset(uri, run_id, shard_dir, f"{spec.dataset_name}-train")
    _write_ref(ref, {"run_id": run_id, "uri": mr.redact(uri)})
    return run_id


def finish_training_run(outcome, uri: str, loop_summary: dict) -> list[str]:
    """-> what was not logged (empty when the run is complete and FINISHED)."""
    s, spec = outcome.summary, outcome.spec
    # the run's mean throughput gets its own key: `images_per_s` is also the per-window series
    metrics = {("images_per_s_run" if k == "images_per_s" else k): s[k] for k in SUMMARY_METRICS
               if s.get(k) is not None}
    metrics["collapsed"] = float(s["collapsed"])
    tags = {"collapsed": s["collapsed"], "collapse_rule": s["collapse_rule"] or "", "outcome": s["outcome"],
            "collapse_kind": s.get("collapse_kind") or "",
            "model_selection": s["model_selection"]}
    loop_errors = list(loop_summary.get("tracking_errors") or [])
    if loop_errors:
        tags["tracking_errors"] = "; ".join(loop_errors)[:4000]
    try:
        with tempfile.TemporaryDirectory(prefix="biggan_finish_") as d:
            hist, model = Path(d) / "history", Path(d) / "model"
            outcome.write_history(hist)
            write_json(hist / f"{spec.run_name}.json", s)
            model_dir = None
            if spec.tracking.log_model:
                write_torch(model / "G_ema.pt", outcome.g_ema_state)
                write_json(model / "model.json", outcome.model_doc())
                model_dir = model
            s["mlflow_model_uri"], failed = mr.finish_run(uri, outcome.mlflow_run_id, metrics, tags,
                                                          step=s["iterations_done"], model_dir=model_dir,
                                                          artifacts={"history": hist})
    except Exception as e:                        # never lose the stage's outputs to the tracker
        failed = [mr.redact_text(f"finishing the run ({type(e).__name__}: {e})", uri)[:500]]
    not_logged = [e for e in loop_errors if e.startswith("not logged")] + failed
    if not_logged:
        print(f"warning: MLflow run {outcome.mlflow_run_id} at {mr.redact(uri)} is incomplete: "
              f"{'; '.join(not_logged)}", file=sys.stderr, flush=True)
    ref = outcome.run_dir / RUN_FILE
    doc = json.loads(ref.read_text()) if ref.is_file() else {"run_id": outcome.mlflow_run_id}
    doc.update(uri=mr.redact(uri), not_logged=not_logged)
    _write_ref(ref, doc)
    return not_logged


def _write_ref(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc) + "\n")
