"""Prefect flow: retrain when the data changed, then register, compare and promote the model.

    python -m pipelines.retrain [--repo .] [--fid no_trunc|min_fid|fid_best]
                                [--variant NAME] [--seed N] [--force]

Scheduled nightly by pipelines.deploy. Steps:
  1. fingerprint the data sources (below) and compare it with the one recorded by the last
     successful retrain (the state file, default <repo>/.dvc/tmp/retrain-state.json: local
     to the workspace, git-ignored by DVC's own .dvc/.gitignore). Unchanged (and not
     `force`): nothing else happens; the log and the markdown artifact `retrain-decision`
     say so.
  2. changed: the reproduce flow runs as a subflow (`dvc repro` stage by stage: DVC reruns
     exactly the stages the change reaches).
  3. pick the new model: `variant`/`seed` when given; otherwise the Table 2 model(s)
     (variants whose `tables` include 2: the paper's headline model), and among their seeds
     (or among all variants when no variant is in Table 2) the run with the lowest FID of
     kind `fid`. Its model is the MLflow model the train stage logged
     (metrics/train/<variant>-s<seed>.json: mlflow_model_uri, mlflow_run_id).
  4. biggan.tracking.registry.promote_if_better: register it as a version of
     tracking.registered_model with alias `challenger`, compare its FID (`fid`: no_trunc or
     min_fid from the sweep stage, fid_best from the train stage) with the `champion`
     version's, move `champion` when lower (a first model becomes champion). The decision is
     recorded as model-version and run tags (by the registry), as the artifact
     `retrain-decision`, and in the state file with the new fingerprint. A failed run
     records nothing, so the next one tries again.

The data fingerprint (sha256 over a JSON of these components; the state file keeps them, so
the log names what changed):
  * `params.datasets`: the whole `datasets:` section of params.yaml (sources, resolution,
    encoding, splits, shard sizes ...);
  * `embedded.digits`: the content hash of scikit-learn's bundled digits file, the source
    of the `digits` datasets and of the multi-label manifest stage;
  * per dataset `source.<name>`: the files its source references. A path produced by a DVC
    pipeline stage (e.g. the digits_manifest stage's manifest) counts as derived: its inputs
    are what is fingerprinted, not the file. A path tracked by a `.dvc` file counts by DVC's
    recorded hash. Other manifests: the manifest's content hash and the content hashes of
    the files it lists (at most MAX_HASHED_FILES; beyond that their size and mtime); folder
    sources (imagefolder, imagenet roots): a listing of relative path, size and mtime of
    every file (hashing ImageNet's contents every night is not an option);
  * `dvc.data_sources`: the hashes DVC recorded for every `.dvc`-tracked data path of the
    repo (`dvc add data/new_images` then counts as new data).
Not data, so not in it: code and non-dataset params (model, train, eval, ...); DVC reruns
the stages those reach at the next reproduce, and `force=True` retrains regardless.
"""
from __future__ import annotations

import hashlib
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

from pipelines.common import read_params, runs_of, stage_address, tables_of, tracking_settings
from pipelines.reproduce import DEFAULT_RETRIES, DEFAULT_RETRY_DELAY_S, reproduce

STATE_FILE = ".dvc/tmp/retrain-state.json"
MAX_HASHED_FILES = 20000
CHUNK = 1 << 20


# ---------------------------------------------------------------------------------------- fingerprint

def _sha_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _sha_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _tree_listing(root: Path) -> str:
    if not root.exists():
        return "missing"
    if root.is_file():
        return _sha_file(root)
    rows = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            st = p.stat()
            rows.append((str(p.relative_to(root)), st.st_size, st.st_mtime_ns))
    return _sha_json(rows)


def _files_signature(paths: list[Path]) -> str:
    if len(paths) <= MAX_HASHED_FILES:
        return _sha_json([(str(p), _sha_file(p) if p.is_file() else "missing") for p in paths])
    return _sha_json([(str(p), *((p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else ("missing",)))
                      for p in paths])


def _dvc_outputs(repo: Path) -> tuple[list[tuple[Path, str, bool, str]], dict[str, str]]:
    """[(absolute out path, owning stage, is a data source, recorded hash)], {data path: hash}."""
    from dvc.repo import Repo

    outs, sources = [], {}
    r = Repo(str(repo))
    try:
        for stage in r.index.stages:
            for out in stage.outs:
                value = str(out.hash_info.value or "") if out.hash_info else ""
                path = Path(out.fs_path).resolve()
                outs.append((path, stage_address(stage, repo), bool(stage.is_data_source), value))
                if stage.is_data_source:
                    sources[str(path.relative_to(repo.resolve()))] = value
    finally:
        r.close()
    return outs, sources


def _owner(path: Path, outs) -> tuple[str, bool, str] | None:
    for out_path, stage, is_source, value in outs:
        if path == out_path or out_path in path.parents:
            return stage, is_source, value
    return None


def _source_component(repo: Path, src: dict, outs) -> Any:
    kind = src.get("kind")

    def located(rel: str | None) -> Path | None:
        if not rel:
            return None
        p = Path(rel)
        return (p if p.is_absolute() else repo / p).resolve()

    def tracked(p: Path) -> Any:
        owner = _owner(p, outs)
        if owner is None:
            return None
        stage, is_source, value = owner
        return {"dvc": value} if is_source else {"derived_from_stage": stage}

    if kind == "digits":
        return {"kind": kind, "data": "embedded.digits"}
    if kind == "manifest":
        manifest = located(src.get("path"))
        info = tracked(manifest)
        if info is not None:
            return {"kind": kind, "manifest": info}
        if not manifest.is_file():
            return {"kind": kind, "manifest": "missing"}
        from biggan.data.sources.manifest import read_manifest

        root = located(src.get("root")) if src.get("root") else manifest.parent
        files = sorted({(Path(r.path) if Path(r.path).is_absolute() else root / r.path) for r in read_manifest(manifest)})
        return {"kind": kind, "manifest": _sha_file(manifest), "files": _files_signature(files)}
    root = located(src.get("root"))
    out: dict[str, Any] = {"kind": kind}
    if root is not None:
        out["root"] = tracked(root) or _tree_listing(root)
    labels = src.get("val_labels")
    if labels:
        p = Path(labels) if Path(labels).is_absolute() else (root or repo) / labels
        out["val_labels"] = _tree_listing(p)
    return out


def embedded_digits_hash() -> str:
    import sklearn.datasets

    path = Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz"
    return _sha_file(path) if path.is_file() else "missing"


def data_fingerprint(repo: str | Path) -> dict[str, Any]:
    """{"fingerprint": sha256, "components": {...}} of the data sources (see the module doc)."""
    repo = Path(repo).resolve()
    datasets = read_params(repo).get("datasets") or {}
    outs, sources = _dvc_outputs(repo)
    comps: dict[str, Any] = {"params.datasets": _sha_json(datasets), "embedded.digits": embedded_digits_hash()}
    for name, ds in datasets.items():
        comps[f"source.{name}"] = _source_component(repo, (ds or {}).get("source") or {}, outs)
    comps["dvc.data_sources"] = sources
    return {"fingerprint": _sha_json(comps), "components": comps}


def changed_components(old: dict | None, new: dict) -> list[str]:
    if not old:
        return ["(no fingerprint recorded yet)"]
    a, b = old.get("components") or {}, new["components"]
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


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


# ---------------------------------------------------------------------------------------- model choice

def select_model(repo: str | Path, fid_kind: str, variant: str | None = None,
                 seed: int | None = None) -> dict[str, Any]:
    """The run to register (see the module doc, step 3) -> {variant, seed, run_id, model_uri, fids}."""
    from biggan.tracking.registry import run_fids

    repo = Path(repo)
    params = read_params(repo)
    variants = list(params.get("variants") or {})
    if variant is not None:
        if variant not in variants:
            raise ValueError(f"unknown variant {variant!r}; params.yaml has {variants}")
        chosen = [variant]
    else:
        chosen = [v for v in variants if 2 in tables_of(params, v)] or variants
    seeds = [int(s) for s in params.get("seeds") or [0]]
    if seed is not None:
        if int(seed) not in seeds:
            raise ValueError(f"seed {seed} is not one of params.yaml's seeds {seeds}")
        seeds = [int(seed)]
    candidates = []
    for v, s in runs_of(params):
        if v not in chosen or s not in seeds:
            continue
        train = repo / "metrics" / "train" / f"{v}-s{s}.json"
        sweep = repo / "metrics" / "sweep" / f"{v}-s{s}.json"
        doc = json.loads(train.read_text()) if train.is_file() else {}
        if not doc.get("mlflow_model_uri"):
            continue
        fids = run_fids(doc, sweep)
        candidates.append({"variant": v, "seed": s, "run_id": doc.get("mlflow_run_id"),
                           "model_uri": doc["mlflow_model_uri"], "fids": fids})
    if not candidates:
        raise FileNotFoundError(
            f"no trained model with an MLflow model URI for variants {chosen}, seeds {seeds} in "
            f"{repo / 'metrics' / 'train'} (is tracking.log_model true and has the train stage run?)")
    inf = float("inf")
    return min(candidates, key=lambda c: inf if c["fids"].get(fid_kind) is None else c["fids"][fid_kind])


# ---------------------------------------------------------------------------------------- tasks, flow

@task(name="data-fingerprint", cache_policy=NO_CACHE)
def fingerprint_task(repo: str) -> dict[str, Any]:
    return data_fingerprint(repo)


@task(name="select-model", cache_policy=NO_CACHE)
def select_task(repo: str, fid: str, variant: str | None, seed: int | None) -> dict[str, Any]:
    c = select_model(repo, fid, variant, seed)
    get_run_logger().info("candidate: %s-s%s, run %s, %s, FIDs %s", c["variant"], c["seed"], c["run_id"],
                          c["model_uri"], c["fids"])
    return c


@task(name="register-and-decide", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def decide_task(repo: str, candidate: dict[str, Any], fid: str, min_improvement: float) -> dict[str, Any]:
    from biggan.tracking.registry import promote_if_better

    tracking = tracking_settings(repo)
    d = promote_if_better(tracking["uri"], tracking["registered_model"], candidate["model_uri"],
                          candidate["fids"], fid_kind=fid, min_improvement=min_improvement,
                          tags={"variant": candidate["variant"], "seed": candidate["seed"]})
    get_run_logger().info("decision: %s (version %s of %s): %s", d.decision, d.version, d.model_name, d.reason)
    return {**d.as_dict(), "tracking_uri": tracking["uri"]}


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def decision_markdown(repo: str, changed: list[str], candidate: dict | None, decision: dict | None,
                      previous: dict | None, stages: list[dict] | None = None) -> str:
    out = [f"## Retrain of `{repo}`", ""]
    if decision is None:
        when = (previous or {}).get("recorded_at", "?")
        out += [f"**Nothing to do**: no new or changed data since the last retrain ({when}).", "",
                f"Data fingerprint `{(previous or {}).get('fingerprint', '?')[:16]}`."]
        return "\n".join(out) + "\n"
    ran = [s["stage"] for s in stages or [] if s["status"] != "skipped"]
    out += [f"Data changed: {', '.join(changed)}.", "",
            f"Pipeline: {len(ran)} of {len(stages or [])} stages ran or were restored"
            + (f" ({', '.join(ran)})" if ran else "") + ".", "",
            f"**Decision: {decision['decision']}** - {decision['reason']}", "",
            "| | version | FID (" + decision["fid_kind"] + ") |", "|---|---|---|",
            f"| challenger ({candidate['variant']}-s{candidate['seed']}) | {decision['version']} | "
            f"{_fmt(decision['challenger_fid'])} |",
            f"| champion before | {decision['champion_version'] or '-'} | {_fmt(decision['champion_fid'])} |",
            "", f"Champion now: version {decision['champion_after'] or '-'} of `{decision['model_name']}` "
                f"(`models:/{decision['model_name']}@champion`); run `{decision['run_id']}` in "
                f"`{decision['tracking_uri']}`."]
    return "\n".join(out) + "\n"


@flow(name="retrain", log_prints=True)
def retrain(repo: str = ".", fid: str = "no_trunc", variant: str | None = None, seed: int | None = None,
            force: bool = False, state_file: str | None = None, min_improvement: float = 0.0,
            retries: int = DEFAULT_RETRIES, retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
            mlflow_ui_url: str | None = None) -> dict[str, Any]:
    """Retrain on new or changed data and promote the model if better (see the module doc).

    repo: repository root; fid: no_trunc | min_fid | fid_best; variant/seed: the model to
    register (default: the best Table 2 run); force: retrain even if the data is unchanged;
    state_file: where the last fingerprint is kept; min_improvement: FID margin to promote;
    retries / retry_delay_s / mlflow_ui_url: passed to the reproduce subflow.
    -> {"changed", "changed_components", "fingerprint", "candidate", "decision", "stages"}."""
    from biggan.tracking.registry import check_kind

    check_kind(fid)
    logger = get_run_logger()
    repo = str(Path(repo).resolve())
    spath = state_path(repo, state_file)
    previous = read_state(spath)
    fp = fingerprint_task(repo)
    changed = changed_components(previous, fp)
    if previous and previous.get("fingerprint") == fp["fingerprint"] and not force:
        print(f"no new or changed data since {previous.get('recorded_at', '?')} "
              f"(fingerprint {fp['fingerprint'][:16]}): nothing to do")
        create_markdown_artifact(markdown=decision_markdown(repo, [], None, None, previous), key="retrain-decision",
                                 description="retrain: nothing to do")
        return {"changed": False, "changed_components": [], "fingerprint": fp["fingerprint"], "candidate": None,
                "decision": None, "stages": []}
    if previous and previous.get("fingerprint") == fp["fingerprint"]:
        changed = ["(unchanged data; forced)"]
    print(f"data changed ({', '.join(changed)}): reproducing the pipeline")
    result = reproduce(repo=repo, retries=retries, retry_delay_s=retry_delay_s, mlflow_ui_url=mlflow_ui_url)
    candidate = select_task(repo, fid, variant, seed)
    decision = decide_task(repo, candidate, fid, min_improvement)
    print(f"{decision['decision']}: {decision['reason']}")
    create_markdown_artifact(markdown=decision_markdown(repo, changed, candidate, decision, previous,
                                                        result["stages"]),
                             key="retrain-decision", description=f"retrain: {decision['decision']}")
    from prefect.runtime import flow_run

    write_state(spath, {**fp, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "decision": decision,
                        "candidate": candidate, "flow_run_id": str(flow_run.id or "")})
    logger.info("recorded the data fingerprint in %s", spath)
    return {"changed": True, "changed_components": changed, "fingerprint": fp["fingerprint"],
            "candidate": candidate, "decision": decision, "stages": result["stages"]}


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
