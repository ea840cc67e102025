"""Prefect flow: retrain when the data changed, then register, compare and promote the model.

    python -m pipelines.retrain [--repo .] [--fid no_trunc|min_fid|fid_best]
                                [--variant NAME] [--seed N] [--force]

Deployed nightly by prefect.yaml (docs/operations.md, "Prefect flows"). Steps:
  1. "data changed" is DVC's verdict on the data stages (`data_stages`, fnmatch patterns,
     default `digits_manifest` and `shard@*`, plus every `.dvc`-tracked source):
       * `dvc status --json` lists one of them as out of date (new images under a `dvc add`ed
         folder, a changed `datasets:` param, scikit-learn's digits file, a manifest ...:
         whatever the stage declares as its deps and params), or
       * their dvc.lock entries (DVC's hashes of their deps and outs) differ from the ones
         the last successful retrain recorded in the state file (default
         <repo>/.dvc/tmp/retrain-state.json: local to the workspace, git-ignored by DVC's own
         .dvc/.gitignore), e.g. after a manual `dvc repro`; none recorded counts as changed.
     Unchanged (and not `force`): nothing else happens; the log and the markdown artifact
     `retrain-decision` say so.
  2. changed: the reproduce flow runs as a subflow (one `dvc repro`: DVC reruns exactly
     the stages the change reaches).
  3. pick the new model: `variant`/`seed` when given; otherwise the Table 2 model(s)
     (variants whose `tables` include 2: the paper's headline model), and among their seeds
     (or among all variants when no variant is in Table 2) the run with the lowest FID of
     kind `fid`, as biggan.tracking.registry.register_best finds them (the MLflow run named by
     models/<variant>/s<seed>/model.json, its logged G_ema and FID metrics).
  4. register_best (the same as the `register` stage): register it as a version of
     tracking.registered_model with alias `challenger`, compare its FID (`fid`: no_trunc or
     min_fid from the sweep stage, fid_best from the train stage) with the `champion`
     version's, move `champion` when lower (a first model becomes champion). The decision is
     recorded as model-version and run tags (by the registry), as the artifact
     `retrain-decision`, and in the state file with the data stages' dvc.lock entries. A
     failed run records nothing, so the next one tries again.
Not data: code and non-dataset params (model, train, eval, ...); DVC reruns the stages those
reach at the next reproduce, and `force=True` retrains regardless.
"""
from __future__ import annotations

import fnmatch
import json
import os
import time
from pathlib import Path
from typing import Any

if __name__ == "__main__":          # before prefect's import: it reads its settings then
    from pipelines.common import apply_env_defaults
    apply_env_defaults()

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipelines.common import dvc_lock, dvc_status, read_params, tracking_settings
from pipelines.reproduce import DEFAULT_RETRIES, DEFAULT_RETRY_DELAY_S, reproduce

STATE_FILE = ".dvc/tmp/retrain-state.json"
DATA_STAGES = ("digits_manifest", "shard@*")


# ---------------------------------------------------------------------------------------- data check

def is_data(name: str, patterns: list[str] | tuple[str, ...] = DATA_STAGES) -> bool:
    return name.endswith(".dvc") or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def data_state(repo: str | Path, patterns: list[str] | tuple[str, ...] = DATA_STAGES) -> dict[str, Any]:
    """{"out_of_date": {stage: what DVC says changed}, "lock": {stage: dvc.lock entry}} of the data stages."""
    status = dvc_status(repo)
    return {"out_of_date": {k: v for k, v in status.items() if is_data(k, patterns)},
            "lock": {k: v for k, v in dvc_lock(repo).items() if is_data(k, patterns)}}


def changed_data(previous: dict | None, now: dict) -> list[str]:
    """What changed, as names: out-of-date data stages, then lock entries unlike the recorded ones."""
    out = [f"{k} (dvc status: {json.dumps(v, sort_keys=True)[:200]})" for k, v in now["out_of_date"].items()]
    if not previous or "lock" not in previous:
        return out + ["(no data state recorded yet)"]
    old = previous["lock"]
    out += [f"{k} (dvc.lock)" for k in sorted(set(old) | set(now["lock"]))
            if old.get(k) != now["lock"].get(k) and k not in now["out_of_date"]]
    return out


def state_path(repo: str | Path, state_file: str | None = None) -> Path:
    p = Path(state_file or STATE_FILE)
    return p if p.is_absolute() else Path(repo).resolve() / p


def read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def write_state(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def record_data_state(repo: str | Path, state_file: str | None = None, **extra) -> Path:
    """Record the data stages' current dvc.lock entries as 'seen' (what a successful retrain does)."""
    path = state_path(repo, state_file)
    write_state(path, {"lock": data_state(repo)["lock"], "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                       **extra})
    return path


# ---------------------------------------------------------------------------------------- model choice

def candidate_dirs(repo: str | Path, variant: str | None = None, seed: int | None = None) -> dict[str, Path]:
    """{"<variant>-s<seed>": models/<variant>/s<seed>} of the runs to choose from (module doc, step 3)."""
    params = read_params(repo)
    variants = list(params.variants)
    if variant is not None and variant not in variants:
        raise ValueError(f"unknown variant {variant!r}; params.yaml has {variants}")
    chosen = [variant] if variant is not None else [v for v in variants if 2 in params.variants[v].tables] or variants
    runs = [(v, s) for v in chosen for s in params.seeds_of(v) if seed is None or s == int(seed)]
    if not runs:
        raise ValueError(f"seed {seed} is not a seed of {chosen} in {Path(repo) / 'params.yaml'}")
    return {f"{v}-s{s}": Path(repo) / "models" / v / f"s{s}" for v, s in runs}


# ---------------------------------------------------------------------------------------- tasks, flow

@task(name="data-status", cache_policy=NO_CACHE)
def data_task(repo: str, patterns: list[str]) -> dict[str, Any]:
    now = data_state(repo, patterns)
    get_run_logger().info("data stages: %d in dvc.lock, out of date: %s", len(now["lock"]),
                          ", ".join(now["out_of_date"]) or "none")
    return now


@task(name="register-and-decide", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def decide_task(repo: str, fid: str, variant: str | None, seed: int | None,
                min_improvement: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """biggan.tracking.registry.register_best over the candidate runs -> (candidate, decision)."""
    from biggan.tracking.registry import register_best

    tracking = tracking_settings(repo)
    best, d = register_best(tracking["uri"], tracking["registered_model"], candidate_dirs(repo, variant, seed),
                            fid, min_improvement)
    logger = get_run_logger()
    logger.info("candidate: %s, run %s, %s, FIDs %s", best["label"], best["run_id"], best["model_uri"], best["fids"])
    logger.info("decision: %s (version %s of %s): %s", d.decision, d.version, d.model_name, d.reason)
    return best, {**d.as_dict(), "tracking_uri": tracking["uri"]}


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def decision_markdown(repo: str, changed: list[str], candidate: dict | None, decision: dict | None,
                      previous: dict | None, stages: list[dict] | None = None) -> str:
    out = [f"## Retrain of `{repo}`", ""]
    if decision is None:
        when = (previous or {}).get("recorded_at", "?")
        out += [f"**Nothing to do**: no new or changed data since the last retrain ({when}): "
                "`dvc status` lists no data stage and their dvc.lock entries are the recorded ones."]
        return "\n".join(out) + "\n"
    ran = [s["stage"] for s in stages or [] if s["status"] == "reproduced"]
    out += [f"Data changed: {', '.join(changed)}.", "",
            f"Pipeline: {len(ran)} of {len(stages or [])} stages reproduced"
            + (f" ({', '.join(ran)})" if ran else "") + ".", "",
            f"**Decision: {decision['decision']}** - {decision['reason']}", "",
            "| | version | FID (" + decision["fid_kind"] + ") |", "|---|---|---|",
            f"| challenger ({candidate['label']}) | {decision['version']} | "
            f"{_fmt(decision['challenger_fid'])} |",
            f"| champion before | {decision['champion_version'] or '-'} | {_fmt(decision['champion_fid'])} |",
            "", f"Champion now: version {decision['champion_after'] or '-'} of `{decision['model_name']}` "
                f"(`models:/{decision['model_name']}@champion`); run `{decision['run_id']}` in "
                f"`{decision['tracking_uri']}`."]
    return "\n".join(out) + "\n"


@flow(name="retrain", log_prints=True)
def retrain(repo: str = ".", fid: str = "no_trunc", variant: str | None = None, seed: int | None = None,
            force: bool = False, state_file: str | None = None, min_improvement: float = 0.0,
            data_stages: list[str] | None = None, retries: int = DEFAULT_RETRIES,
            retry_delay_s: float = DEFAULT_RETRY_DELAY_S, mlflow_ui_url: str | None = None) -> dict[str, Any]:
    """Retrain on new or changed data and promote the model if better (see the module doc).

    repo: repository root; fid: no_trunc | min_fid | fid_best; variant/seed: the model to
    register (default: the best Table 2 run); force: retrain even if the data is unchanged;
    state_file: where the data stages' dvc.lock entries of the last retrain are kept;
    min_improvement: FID margin to promote; data_stages: fnmatch patterns of the data stages
    (default digits_manifest, shard@*); retries / retry_delay_s / mlflow_ui_url: passed to the
    reproduce subflow.
    -> {"changed", "changed_data", "candidate", "decision", "stages"}."""
    from biggan.tracking.registry import check_kind

    check_kind(fid)
    logger = get_run_logger()
    repo = str(Path(repo).resolve())
    spath = state_path(repo, state_file)
    previous = read_state(spath)
    changed = changed_data(previous, data_task(repo, list(data_stages or DATA_STAGES)))
    if not changed and not force:
        print(f"no new or changed data since {previous.get('recorded_at', '?')}: nothing to do")
        create_markdown_artifact(markdown=decision_markdown(repo, [], None, None, previous), key="retrain-decision",
                                 description="retrain: nothing to do")
        return {"changed": False, "changed_data": [], "candidate": None, "decision": None, "stages": []}
    changed = changed or ["(unchanged data; forced)"]
    print(f"data changed ({'; '.join(changed)}): reproducing the pipeline")
    result = reproduce(repo=repo, retries=retries, retry_delay_s=retry_delay_s, mlflow_ui_url=mlflow_ui_url)
    candidate, decision = decide_task(repo, fid, variant, seed, min_improvement)
    print(f"{decision['decision']}: {decision['reason']}")
    create_markdown_artifact(markdown=decision_markdown(repo, changed, candidate, decision, previous,
                                                        result["stages"]),
                             key="retrain-decision", description=f"retrain: {decision['decision']}")
    from prefect.runtime import flow_run

    record_data_state(repo, state_file, decision=decision, candidate=candidate, flow_run_id=str(flow_run.id or ""))
    logger.info("recorded the data stages' dvc.lock entries in %s", spath)
    return {"changed": True, "changed_data": changed, "candidate": candidate, "decision": decision,
            "stages": result["stages"]}


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m pipelines.retrain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", default=".")
    p.add_argument("--fid", default="no_trunc", choices=("no_trunc", "min_fid", "fid_best"))
    p.add_argument("--variant")
    p.add_argument("--seed", type=int)
    p.add_argument("--force", action="store_true")
    p.add_argument("--state-file")
    p.add_argument("--min-improvement", type=float, default=0.0)
    p.add_argument("--mlflow-ui", help="MLflow UI base URL for run links")
    a = p.parse_args(argv)
    state = retrain(repo=a.repo, fid=a.fid, variant=a.variant, seed=a.seed, force=a.force,
                    state_file=a.state_file, min_improvement=a.min_improvement, mlflow_ui_url=a.mlflow_ui,
                    return_state=True)
    return 0 if state.is_completed() else 1


if __name__ == "__main__":
    import sys

    sys.exit(main())
