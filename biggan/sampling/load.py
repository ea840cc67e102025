"""Load a trained generator (in eval mode) for sampling and evaluation.

Two sources:
  * a model folder, as the train stage writes it (biggan.train.outputs):
        <dir>/G_ema.pt     the selected G_ema state_dict (torch.load(weights_only=True))
        <dir>/model.json   {"model": <resolved model config>, "variant", "seed", ...}
  * an MLflow model URI (`models:/NAME@champion`, `models:/NAME/3`, `runs:/<run id>/G_ema`):
    the generator as biggan.tracking.mlflow_run.log_generator logs it: a model folder as
    above, downloaded and loaded the same way, so loading runs no code from the store (no
    pickle, no logged code paths). The tracking/registry store is the given
    `tracking_uri`, else MLFLOW_TRACKING_URI, else params' default sqlite:///mlflow.db in the
    working directory (biggan.tracking.mlflow_run.resolve_uri).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

WEIGHTS_FILE = "G_ema.pt"
MODEL_FILE = "model.json"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"      # TrackingConfig.uri's default
MODEL_URI_SCHEMES = ("models:/", "runs:/")


class ModelNotFound(FileNotFoundError):
    """The model folder, file or URI does not exist (the message names it)."""


def train_stage_hint(variant: str | None = None, seed: int | None = None) -> str:
    v = variant if variant is not None else "NAME"
    s = seed if seed is not None else "N"
    return (f"it is written by the train stage: `python -m stages.train --params params.yaml --variant {v} "
            f"--seed {s}` (or `dvc repro`)")


def read_model_doc(model_dir: str | Path) -> dict:
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise ModelNotFound(f"model description not found: {path}; {train_stage_hint()}")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), dict):
        raise ValueError(f"{path}: no `model` section (the resolved model config the train stage writes)")
    return doc


def load_model_dir(model_dir: str | Path, device: str | torch.device = "cpu",
                   hint: str | None = None) -> tuple[torch.nn.Module, dict]:
    """G_ema.pt + model.json -> (generator in eval mode, model.json's content)."""
    from biggan.config.model import ModelConfig
    from biggan.models import build_generator

    model_dir = Path(model_dir)
    hint = hint or train_stage_hint()
    weights = model_dir / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelNotFound(f"generator weights not found: {weights}; {hint}")
    if not (model_dir / MODEL_FILE).is_file():
        raise ModelNotFound(f"model description not found: {model_dir / MODEL_FILE}; {hint}")
    doc = read_model_doc(model_dir)
    # built on the meta device, so no initialisation (the orthogonal init's QRs take ~10 s at
    # 128 px, ch 96) is computed only to be overwritten: every tensor comes from the file
    G = build_generator(ModelConfig.model_validate(doc["model"]), "meta")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    G.load_state_dict(state, strict=True, assign=True)
    return G.to(device).eval().requires_grad_(False), doc


def is_model_uri(s: str) -> bool:
    return s.startswith(MODEL_URI_SCHEMES)


def default_tracking_uri(root: str | Path = ".") -> str:
    from biggan.tracking.mlflow_run import resolve_uri

    return resolve_uri(DEFAULT_TRACKING_URI, Path(root))


def load_model_uri(uri: str, tracking_uri: str | None = None,
                   device: str | torch.device = "cpu") -> torch.nn.Module:
    """An MLflow-logged generator -> eval mode, on `device`."""
    import tempfile

    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    from biggan.tracking.mlflow_run import global_tracking_uri, redact, sqlite_path

    if not is_model_uri(uri):
        raise ValueError(f"not an MLflow model URI: {uri!r} (expected models:/NAME@ALIAS, models:/NAME/VERSION "
                         f"or runs:/RUN_ID/PATH)")
    store = tracking_uri or default_tracking_uri()
    shown = redact(store)
    db = sqlite_path(store)
    if db is not None and not db.is_file():
        raise ModelNotFound(f"cannot load {uri}: no MLflow store at {db} ({store}); pass the store with "
                            f"--tracking-uri or MLFLOW_TRACKING_URI")
    with tempfile.TemporaryDirectory(prefix="biggan_model_") as d:
        try:
            with global_tracking_uri(store):
                local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=d)
        except MlflowException as e:
            raise ModelNotFound(f"cannot load {uri} from the MLflow store {shown}: {e.message}") from None
        except OSError as e:
            raise ModelNotFound(f"cannot load {uri} from the MLflow store {shown}: {e}") from None
        hint = (f"{uri} is not a BigGAN model folder (G_ema.pt + model.json; models logged in MLflow's "
                f"pytorch pickle format by older versions are not loaded: retrain, or load the model folder)")
        return load_model_dir(local, device, hint=hint)[0]
