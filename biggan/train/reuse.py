"""Completed runs kept for reuse: when the train stage reruns (after an interruption, or after a
change to another variant; every run is in one stage), a run that finished with the same
configuration, code and inputs is handed out again instead of being trained again.

    <run dir>/outcome.pt   the selected G_ema, the history and the summary
    <run dir>/DONE         written last: the iteration reached and the fingerprint

The run's name already holds its configuration's hash. The fingerprint adds what the name does
not: the train stage's code (the project files stages/train.py imports, found by biggan.codeset;
dvc.yaml's train deps are checked against the same set), the torch version, and the content
(md5) of every input file (training shards, feature net, reference statistics), named relative
to the repository, not by absolute path or modification time. Any difference, an older marker
without a fingerprint, or a tracked run that the MLflow store no longer holds as finished, and
the run is wiped and trained afresh.
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import torch

from biggan import codeset, storage
from biggan.files import write_json, write_torch

DONE = "DONE"
OUTCOME = "outcome.pt"
TRAIN_STAGE = "stages/train.py"


@functools.lru_cache(maxsize=2)
def _code_digest(root: Path = codeset.ROOT) -> str:
    h = hashlib.sha256(torch.__version__.encode())
    for rel in codeset.stage_code(TRAIN_STAGE, root):
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes())
    return h.hexdigest()


def input_files(data, scorer) -> list[Path]:
    """The files a run reads: its training shards and the held-out ones D's accuracy is measured
    on (`shard_dir`, `val_dir` of the data factory) and the scorer's inputs (`EvalScorer.inputs()`);
    in-memory test data and scorers have none."""
    files: list[Path] = []
    for folder in (getattr(data, "shard_dir", None), getattr(data, "val_dir", None)):
        if folder and Path(folder).is_dir():
            files += [p for p in Path(folder).rglob("*") if p.is_file()]
    if hasattr(scorer, "inputs"):
        files += [Path(p) for p in scorer.inputs()]
    return sorted(files)


def fingerprint(inputs: list[Path], root: Path | None = None) -> str:
    """The code digest and every input's content (md5, as DVC keys its cache), each input named
    relative to `root`: another clone at another path, or files rewritten with the same bytes,
    give the same fingerprint."""
    h = hashlib.sha256(_code_digest().encode())
    for p in inputs:
        name = p.relative_to(root) if root is not None and p.is_relative_to(root) else p
        try:
            h.update(f"{name}\0{storage.content_md5(p)}\n".encode())
        except FileNotFoundError:               # the run's worker reports it, naming the fix
            h.update(f"{name}\0missing\n".encode())
    return h.hexdigest()[:16]


def save(run_dir: Path, fp: str, *, iteration: int, summary: dict, g_ema_state: dict, history: dict,
         mlflow_run_id: str | None, timing: dict) -> None:
    write_torch(run_dir / OUTCOME, {"summary": summary, "g_ema_state": g_ema_state, "history": history,
                                    "mlflow_run_id": mlflow_run_id, "timing": timing})
    write_json(run_dir / DONE, {"iteration": iteration, "fingerprint": fp})


def load(run_dir: Path, fp: str, tracking_uri: str | None) -> dict | None:
    """The saved outcome of a run completed with fingerprint `fp`, else None (also when not completed)."""
    try:
        marker = json.loads((run_dir / DONE).read_text())
        if marker.get("fingerprint") != fp:
            return None
        kept = torch.load(run_dir / OUTCOME, map_location="cpu", weights_only=False)
    except (OSError, ValueError, RuntimeError, EOFError):
        return None
    if tracking_uri and not _finished(tracking_uri, kept["mlflow_run_id"]):
        return None
    return kept


def _finished(uri: str, run_id: str | None) -> bool:
    if not run_id:
        return False
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        info = MlflowClient(uri).get_run(run_id).info
    except MlflowException:
        return False
    return info.status == "FINISHED" and info.lifecycle_stage == "active"
