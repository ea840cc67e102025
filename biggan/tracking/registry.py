"""MLflow model registry: register a trained generator, compare it with the champion, promote.

    from biggan.tracking.registry import promote_if_better, run_fids
    fids = run_fids("metrics/train/full-s0.json", "metrics/sweep/full-s0.json")
    d = promote_if_better(tracking_uri, "biggan-digits-generator", model_uri, fids, fid_kind="no_trunc")
    d.promoted, d.decision, d.reason

The policy
  * the candidate (a train stage's logged G_ema, `models:/m-<id>`) becomes a new version of
    the registered model and gets the alias `challenger`. A model URI that is already a
    version (a retrain whose train stage DVC did not rerun) is not registered twice: that
    version is the candidate.
  * its FID is compared with the version holding the alias `champion`. Which FID is a
    parameter (`fid_kind`): `no_trunc` (sweep stage, untruncated samples: the paper's
    headline), `min_fid` (sweep stage, the best truncation threshold) or `fid_best` (the
    train stage's best evaluation). Every version carries all the FIDs known when it was
    registered as tags `fid.<kind>`, so champions of earlier runs can be compared under any
    kind; for `fid_best` the champion's run metric is the fallback.
  * lower is better: the candidate is promoted (the `champion` alias moves to it, its
    `challenger` alias is removed) when its FID is lower than the champion's by more than
    `min_improvement`. With no champion yet the first candidate with a finite FID becomes
    champion. A candidate without a finite FID (a run that collapsed before its first
    evaluation) is never promoted; neither is one compared with a champion that has no FID
    of that kind (the champion stays: re-decide with a kind it has, or promote by hand).
  * the decision is recorded as tags of the candidate version (`decision`, `decision.reason`,
    `decision.fid_kind`, `decision.challenger_fid`, `decision.champion_fid`,
    `decision.champion_version`, `decision.at`) and of its MLflow run (`registry.*`); a
    replaced champion gets `superseded_by`. The returned `Decision` holds the same.

Registering the default's best model (`register_best`, the register stage): the candidates
are the trained (variant, seed) model folders (models/<variant>/s<seed>/model.json gives the
MLflow run); each run's FIDs are read from the run itself (`fid_best` from training, the
sweep stage's `sweep_fid_untruncated` / `sweep_fid_min`), its G_ema is the LoggedModel the
run produced. The lowest FID of `fid_kind` goes through `promote_if_better`, so a first
`dvc repro` leaves a `champion` and later retrains compete against it.

MLflow facts this relies on (3.17): registering a `models:/m-<id>` source resolves the logged
model through the *global* tracking URI, whatever MlflowClient(uri) says, so registration
runs with the global URI set to the store and puts the caller's URI (and the
MLFLOW_TRACKING_URI that mlflow.set_tracking_uri exports) back afterwards. A missing alias
raises MlflowException("Registered model alias champion not found.").
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

CHAMPION, CHALLENGER = "champion", "challenger"
FID_KINDS = ("no_trunc", "min_fid", "fid_best")
PROMOTED, KEPT, ALREADY = "promoted", "kept_champion", "already_champion"


@dataclass(frozen=True)
class Decision:
    model_name: str
    version: str                       # the candidate's version
    run_id: str | None                 # its MLflow run
    model_uri: str
    fid_kind: str
    challenger_fid: float | None
    champion_version: str | None       # the champion it was compared with (None: there was none)
    champion_fid: float | None
    promoted: bool
    decision: str                      # promoted | kept_champion | already_champion
    reason: str
    registered: bool                   # a new version was created (False: the URI was a version already)

    @property
    def champion_after(self) -> str | None:
        return self.version if self.promoted or self.decision == ALREADY else self.champion_version

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "champion_after": self.champion_after}


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _load(doc: Path | str | Mapping | None) -> dict:
    if doc is None:
        return {}
    if isinstance(doc, Mapping):
        return dict(doc)
    path = Path(doc)
    return json.loads(path.read_text()) if path.is_file() else {}


def run_fids(train: Path | str | Mapping | None, sweep: Path | str | Mapping | None = None) -> dict[str, float | None]:
    """The three FIDs of one (variant, seed) from its stage summaries (paths or loaded dicts):
    metrics/train/<run>.json `fid_best`, metrics/sweep/<run>.json `no_trunc.fid`, `min_fid.fid`.
    A missing file or entry gives None."""
    t, s = _load(train), _load(sweep)
    return {"no_trunc": _finite((s.get("no_trunc") or {}).get("fid")),
            "min_fid": _finite((s.get("min_fid") or {}).get("fid")),
            "fid_best": _finite(t.get("fid_best"))}


def check_kind(fid_kind: str) -> str:
    if fid_kind not in FID_KINDS:
        raise ValueError(f"unknown FID kind {fid_kind!r}; allowed: {', '.join(FID_KINDS)}")
    return fid_kind


def compare(challenger_fid: float | None, champion_fid: float | None, has_champion: bool,
            fid_kind: str, min_improvement: float = 0.0) -> tuple[bool, str, str]:
    """The policy alone: -> (promote, decision, reason)."""
    if challenger_fid is None:
        return False, KEPT, f"challenger has no finite {fid_kind} FID: not promotable"
    if not has_champion:
        return True, PROMOTED, f"no champion yet: first model with {fid_kind} FID {challenger_fid:.4f}"
    if champion_fid is None:
        return False, KEPT, (f"champion has no {fid_kind} FID to compare with; kept (decide with another "
                             f"FID kind or promote by hand)")
    if challenger_fid < champion_fid - min_improvement:
        return True, PROMOTED, (f"{fid_kind} FID {challenger_fid:.4f} < champion's {champion_fid:.4f}"
                                + (f" - {min_improvement:g}" if min_improvement else ""))
    return False, KEPT, (f"{fid_kind} FID {challenger_fid:.4f} is not below the champion's {champion_fid:.4f}"
                         + (f" - {min_improvement:g}" if min_improvement else ""))


def alias_version(client, name: str, alias: str):
    """The ModelVersion holding `alias`, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as e:
        if "not found" in str(e).lower() or getattr(e, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST",
                                                                               "INVALID_PARAMETER_VALUE"):
            return None
        raise


def _fmt(v: float | None) -> str:
    return "" if v is None else repr(float(v))


def _version_fid(client, mv, fid_kind: str) -> float | None:
    v = _finite((mv.tags or {}).get(f"fid.{fid_kind}"))
    if v is None and fid_kind == "fid_best" and mv.run_id:
        try:
            v = _finite(client.get_run(mv.run_id).data.metrics.get("fid_best"))
        except Exception:
            v = None
    return v


def register(tracking_uri: str, model_name: str, model_uri: str, fids: Mapping[str, float | None] | None = None,
             tags: Mapping[str, Any] | None = None):
    """The registered version of `model_uri` (created, tagged fid.<kind> and `tags`, if new).

    -> (ModelVersion, created)."""
    import mlflow
    from mlflow import MlflowClient

    from biggan.tracking.mlflow_run import global_tracking_uri

    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    for mv in client.search_model_versions(f"name = '{model_name}'"):
        if mv.source == model_uri:
            return mv, False
    version_tags = {f"fid.{k}": _fmt(v) for k, v in (fids or {}).items() if v is not None}
    version_tags.update({k: str(v) for k, v in (tags or {}).items()})
    with global_tracking_uri(tracking_uri):
        mv = mlflow.register_model(model_uri, model_name, tags=version_tags or None)
    return client.get_model_version(model_name, mv.version), True


def promote_if_better(tracking_uri: str, model_name: str, model_uri: str,
                      fids: Mapping[str, float | None], fid_kind: str = "no_trunc",
                      min_improvement: float = 0.0, tags: Mapping[str, Any] | None = None) -> Decision:
    """Register `model_uri`, make it the challenger, promote it if better (see the module doc)."""
    from mlflow import MlflowClient

    check_kind(fid_kind)
    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    mv, created = register(tracking_uri, model_name, model_uri, fids, tags)
    version = str(mv.version)
    challenger_fid = _finite(fids.get(fid_kind))
    if challenger_fid is None:
        challenger_fid = _version_fid(client, mv, fid_kind)
    champ = alias_version(client, model_name, CHAMPION)
    champion_version = str(champ.version) if champ is not None else None
    champion_fid = _version_fid(client, champ, fid_kind) if champ is not None else None

    if champion_version == version:
        promoted, decision = False, ALREADY
        reason = f"version {version} is the champion already ({fid_kind} FID {_fmt(challenger_fid) or 'n/a'})"
    else:
        client.set_registered_model_alias(model_name, CHALLENGER, version)
        promoted, decision, reason = compare(challenger_fid, champion_fid, champ is not None, fid_kind,
                                             min_improvement)
    if promoted:
        client.set_registered_model_alias(model_name, CHAMPION, version)
        client.delete_registered_model_alias(model_name, CHALLENGER)
        if champion_version is not None:
            client.set_model_version_tag(model_name, champion_version, "superseded_by", version)

    d = Decision(model_name, version, mv.run_id, model_uri, fid_kind, challenger_fid, champion_version,
                 champion_fid, promoted, decision, reason, created)
    record(client, d)
    return d


def record(client, d: Decision) -> None:
    """The decision as tags of the candidate version and of its run."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    fields = {"decision": d.decision, "reason": d.reason, "fid_kind": d.fid_kind,
              "challenger_fid": _fmt(d.challenger_fid), "champion_fid": _fmt(d.champion_fid),
              "champion_version": d.champion_version or "", "at": now}
    for k, v in fields.items():
        client.set_model_version_tag(d.model_name, d.version, "decision" if k == "decision" else f"decision.{k}",
                                     v)
    if d.run_id:
        run_tags = {"registry.model": d.model_name, "registry.version": d.version,
                    **{f"registry.{k}": v for k, v in fields.items()}}
        from mlflow.entities import RunTag

        client.log_batch(d.run_id, tags=[RunTag(k, v) for k, v in run_tags.items()])


# FID kind -> the run metric holding it (train stage: fid_best; sweep stage: sweep_*)
RUN_FID_METRICS = {"no_trunc": "sweep_fid_untruncated", "min_fid": "sweep_fid_min", "fid_best": "fid_best"}


def run_model_uri(client, run_id: str) -> str | None:
    """models:/<id> of the newest READY LoggedModel of the run (None: it logged none)."""
    run = client.get_run(run_id)
    models = [m for m in client.search_logged_models([run.info.experiment_id],
                                                     filter_string=f"source_run_id = '{run_id}'")
              if str(m.status).endswith("READY")]
    if not models:
        return None
    return f"models:/{max(models, key=lambda m: m.creation_timestamp).model_id}"


def candidates(tracking_uri: str, model_dirs: Mapping[str, Path]) -> list[dict]:
    """{label: model folder} -> [{label, run_id, model_uri, fids}] of the folders with a logged model."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri)
    out = []
    for label, d in model_dirs.items():
        doc = _load(Path(d) / "model.json")
        run_id = doc.get("mlflow_run_id")
        if not run_id:
            continue
        model_uri = run_model_uri(client, run_id)
        if model_uri is None:
            continue
        metrics = client.get_run(run_id).data.metrics
        out.append({"label": label, "run_id": run_id, "model_uri": model_uri,
                    "fids": {k: _finite(metrics.get(m)) for k, m in RUN_FID_METRICS.items()}})
    return out


def register_best(tracking_uri: str, model_name: str, model_dirs: Mapping[str, Path], fid_kind: str = "no_trunc",
                  min_improvement: float = 0.0) -> tuple[dict, Decision]:
    """The lowest-`fid_kind` candidate, registered and compared with the champion -> (candidate, Decision)."""
    check_kind(fid_kind)
    found = candidates(tracking_uri, model_dirs)
    scored = [c for c in found if c["fids"].get(fid_kind) is not None]
    if not scored:
        raise LookupError(f"no model with a logged G_ema and a {fid_kind} FID ({RUN_FID_METRICS[fid_kind]}) among "
                          f"{', '.join(str(Path(d) / 'model.json') for d in model_dirs.values()) or 'no folders'}")
    best = min(scored, key=lambda c: c["fids"][fid_kind])
    d = promote_if_better(tracking_uri, model_name, best["model_uri"], best["fids"], fid_kind, min_improvement,
                          tags={"candidate": best["label"], "run_id": best["run_id"]})
    return best, d
