"""Prefect flow: the DVC pipeline, one Prefect task per stage, then the results tables.

    python -m pipelines.reproduce [--repo .] [--target STAGE ...] [--force]
                                  [--retries 2] [--retry-delay 10] [--mlflow-ui URL]

or from Python: `from pipelines.reproduce import reproduce; reproduce(repo=".")`.

What it does
  1. plan: the pipeline's stages in dependency order, read from DVC itself
     (`dvc.repo.Repo(repo).index.graph`, the graph `dvc repro` walks; its edges point from a
     stage to the stages it depends on). The order is a topological sort that keeps
     dvc.yaml's order among independent stages, so it is deterministic. `targets` (stage
     names such as `train@full-0`, or dvc.yaml paths) limit it to those stages and their
     upstream stages. Data-source `.dvc` files are not stages to run and are left out.
  2. one task per stage, serially: `dvc repro --single-item [--force] <stage>`. DVC's own
     lock and run cache decide whether the stage runs, is skipped ("didn't change") or is
     restored from the run cache; the task reports which. Serial on purpose: `dvc repro`
     runs stages serially anyway, and two `dvc repro` processes in one repo either collide
     on `.dvc/tmp/rwlock` or race on dvc.lock writes. Every output line of the stage is
     streamed into the task's Prefect log as it arrives ("[<stage>] <line>").
  3. artifacts: results/table1.md .. table3.md as Prefect markdown artifacts (keys table1,
     table2, table3), each followed by links to the MLflow runs of its variants (run ids from
     metrics/train/<variant>-s<seed>.json); a summary of the stages (key reproduce-stages).

Retries: a failed stage is retried `retries` times (default 2) with exponential backoff,
`retry_delay_s * 2**k` seconds before retry k+1 (default 10 s, 20 s). Retried: every failure
that may be transient (a killed or crashed stage, a busy DVC lock, an exit status other than
2). Not retried: a stage that exits 2 (this project's stages exit 2 for bad params or missing
inputs, which another attempt cannot fix) and DVC's own usage errors (unknown stage, invalid
dvc.yaml); the flow then fails at once with the stage's last output lines.

MLflow links: `mlflow_ui_url` (e.g. http://127.0.0.1:5000 from `python -m biggan ui`), else
the tracking URI when it is an http(s) server; the link is
`<base>/#/experiments/<experiment id>/runs/<run id>`. With a local SQLite store and no UI URL
the artifact names the run id and the store instead.

Without PREFECT_API_URL the flow runs in Prefect's ephemeral mode (a temporary local server
per process); see pipelines.deploy for a persistent server with a UI.
"""
from __future__ import annotations

import json
import subprocess
import time
from collections import deque
from pathlib import Path
from typing import Any

if __name__ == "__main__":          # before prefect's import: it reads its settings then
    from pipelines.common import apply_env_defaults
    apply_env_defaults()

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipelines.common import (read_params, runs_of, stage_address, subprocess_env, tables_of, tool,
                              tracking_settings)

DEFAULT_RETRIES = 2
DEFAULT_RETRY_DELAY_S = 10.0
TABLES = (1, 2, 3)
TAIL_LINES = 30

# DVC's messages (dvc/stage/__init__.py, stage/run.py, stage/cache.py of DVC 3.67)
RAN, SKIPPED, RESTORED = "ran", "skipped", "restored"
_STATUS_MARKS = (("Running stage '", RAN), ("is cached - skipping run", RESTORED),
                 ("didn't change, skipping", SKIPPED), ("is frozen", SKIPPED))
# in DVC's ERROR lines: the stage exited 2; unknown stage; invalid dvc.yaml; a declared output or
# dependency missing after/before the command (a stage bug, not a hiccup)
_PERMANENT_MARKS = ("exited with 2", "not found inside", "is invalid", "does not exist")


class StageFailed(RuntimeError):
    """`dvc repro` of one stage failed; retried (may be transient)."""


class PermanentStageError(StageFailed):
    """A failure another attempt cannot fix (bad params, missing inputs, unknown stage)."""


def retry_delays(retries: int, delay_s: float) -> list[float]:
    """Exponential backoff: delay_s, 2*delay_s, 4*delay_s, ... (prefect.tasks.exponential_backoff)."""
    return [float(delay_s) * 2 ** k for k in range(max(0, int(retries)))]


def _absolute_target(repo: str | Path, target: str) -> str:
    """DVC resolves a target's path against the process's cwd, not the repo: anchor it.
    `name` -> <repo>/dvc.yaml:name, `path` -> <repo>/path, `path:name` -> <repo>/path:name."""
    repo = Path(repo).resolve()
    path, sep, name = target.rpartition(":")
    if sep and path:
        return f"{(repo / path).resolve()}:{name}"
    if (repo / target).exists():
        return str((repo / target).resolve())
    return f"{repo / 'dvc.yaml'}:{target}"


def stage_order(repo: str | Path, targets: list[str] | None = None) -> list[str]:
    """The stages `dvc repro [targets]` would consider, upstream first (see the module doc)."""
    import networkx as nx
    from dvc.repo import Repo

    dvc_repo = Repo(str(repo))
    try:
        graph = dvc_repo.index.graph
        position = {s: i for i, s in enumerate(dvc_repo.index.stages)}
        # edges: stage -> its dependencies; reversed, a topological sort puts upstream first
        order = list(nx.lexicographical_topological_sort(graph.reverse(copy=True),
                                                         key=lambda s: position.get(s, len(position))))
        if targets:
            wanted = set()
            for t in targets:
                wanted.update(dvc_repo.stage.collect(_absolute_target(repo, t), with_deps=True))
            order = [s for s in order if s in wanted]
        return [stage_address(s, repo) for s in order if getattr(s, "cmd", None)]
    finally:
        dvc_repo.close()


def _is_transient(task, task_run, state) -> bool:
    """retry_condition_fn: retry unless the task raised PermanentStageError."""
    exc = getattr(state, "data", None)
    if not isinstance(exc, BaseException):
        try:
            exc = state.result(raise_on_failure=False)
        except Exception:               # the state's data is not readable: treat as transient
            return True
    return not isinstance(exc, PermanentStageError)


def run_dvc_stage(repo: str | Path, stage: str, force: bool = False, log=None) -> dict[str, Any]:
    """`dvc repro --single-item [--force] <stage>` in `repo`, each output line to `log`.

    -> {"stage", "status": ran | skipped | restored, "seconds"}; raises StageFailed /
    PermanentStageError with the last output lines."""
    log = log or (lambda line: print(line, flush=True))
    cmd = [tool("dvc"), "repro", "--single-item"] + (["--force"] if force else []) + [stage]
    t0 = time.monotonic()
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    status = None
    p = subprocess.Popen(cmd, cwd=str(repo), env=subprocess_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, bufsize=1, errors="replace")
    try:
        assert p.stdout is not None
        for raw in p.stdout:                # universal newlines: tqdm's \r updates are lines too
            line = raw.rstrip()
            if not line.strip():
                continue
            tail.append(line)
            log(f"[{stage}] {line}")
            for mark, st in _STATUS_MARKS:
                if mark in line and status is None:
                    status = st
        rc = p.wait()
    except BaseException:
        p.kill()
        p.wait()
        raise
    seconds = round(time.monotonic() - t0, 2)
    if rc != 0:
        text = "\n".join(tail)
        errors = [line for line in tail if line.startswith("ERROR")]     # DVC's own verdict lines
        kind = PermanentStageError if any(m in e for e in errors for m in _PERMANENT_MARKS) else StageFailed
        raise kind(f"dvc repro --single-item {stage} failed (exit {rc}) after {seconds} s; last lines:\n{text}")
    return {"stage": stage, "status": status or SKIPPED, "seconds": seconds}


@task(name="dvc-plan", cache_policy=NO_CACHE)
def plan_stages(repo: str, targets: list[str] | None = None) -> list[str]:
    stages = stage_order(repo, targets)
    get_run_logger().info("%d stages in dependency order: %s", len(stages), ", ".join(stages))
    return stages


@task(name="dvc-repro", task_run_name="repro {stage}", cache_policy=NO_CACHE,
      retries=DEFAULT_RETRIES, retry_delay_seconds=retry_delays(DEFAULT_RETRIES, DEFAULT_RETRY_DELAY_S),
      retry_condition_fn=_is_transient)
def repro_stage(repo: str, stage: str, force: bool = False) -> dict[str, Any]:
    from prefect.runtime import task_run

    logger = get_run_logger()
    attempt = int(task_run.run_count or 1)
    if attempt > 1:
        logger.warning("stage %s: attempt %d", stage, attempt)
    out = run_dvc_stage(repo, stage, force, log=logger.info)
    out["attempts"] = attempt
    logger.info("stage %s: %s in %.1f s (attempt %d)", stage, out["status"], out["seconds"], attempt)
    return out


def run_links(repo: str | Path, params: dict, variants: list[str] | None = None,
              mlflow_ui_url: str | None = None) -> list[dict[str, str]]:
    """The MLflow runs of the train stages (all, or of `variants`) with their UI links."""
    repo = Path(repo)
    tracking = tracking_settings(repo, params)
    uri = tracking["uri"]
    base = (mlflow_ui_url or (uri if uri.startswith(("http://", "https://")) else "")).rstrip("/")
    rows, client = [], None
    for variant, seed in runs_of(params):
        if variants is not None and variant not in variants:
            continue
        path = repo / "metrics" / "train" / f"{variant}-s{seed}.json"
        if not path.is_file():
            continue
        doc = json.loads(path.read_text())
        run_id = doc.get("mlflow_run_id")
        if not run_id:
            continue
        exp = tracking["experiment"]
        if base:
            try:
                if client is None:
                    from mlflow import MlflowClient
                    client = MlflowClient(uri)
                exp = client.get_run(run_id).info.experiment_id
            except Exception:              # store unreachable: link by the experiment's name
                pass
        rows.append({"variant": variant, "seed": str(seed), "run_id": run_id,
                     "fid_best": "" if doc.get("fid_best") is None else f"{doc['fid_best']:.3f}",
                     "url": f"{base}/#/experiments/{exp}/runs/{run_id}" if base else "", "store": uri,
                     "model_uri": doc.get("mlflow_model_uri") or ""})
    return rows


def links_markdown(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "_No MLflow runs recorded (metrics/train/*.json has no mlflow_run_id)._\n"
    out = ["| run | FID (train, best) | MLflow run |", "|---|---|---|"]
    for r in rows:
        where = f"[{r['run_id']}]({r['url']})" if r["url"] else f"`{r['run_id']}` in `{r['store']}`"
        out.append(f"| {r['variant']}-s{r['seed']} | {r['fid_best']} | {where} |")
    if not rows[0]["url"]:
        out.append("\nNo MLflow UI URL known: open these runs with `python -m biggan ui` "
                   "(or pass the flow's mlflow_ui_url).")
    return "\n".join(out) + "\n"


@task(name="publish-tables", cache_policy=NO_CACHE)
def publish_tables(repo: str, mlflow_ui_url: str | None = None) -> dict[str, str]:
    """results/table{1,2,3}.md -> markdown artifacts table1..table3 (+ MLflow run links)."""
    logger = get_run_logger()
    params = read_params(repo)
    published = {}
    for n in TABLES:
        path = Path(repo) / "results" / f"table{n}.md"
        if not path.is_file():
            logger.warning("%s not found: no artifact table%d", path, n)
            continue
        variants = [v for v in (params.get("variants") or {}) if n in tables_of(params, v)]
        md = (path.read_text().rstrip() + "\n\n### MLflow runs\n\n"
              + links_markdown(run_links(repo, params, variants, mlflow_ui_url)))
        artifact_id = create_markdown_artifact(markdown=md, key=f"table{n}",
                                               description=f"Table {n} of {Path(repo).resolve()}")
        published[f"table{n}"] = str(artifact_id)
        logger.info("published %s as artifact table%d", path, n)
    return published


def stages_markdown(repo: str, results: list[dict[str, Any]]) -> str:
    out = [f"## DVC pipeline of `{Path(repo).resolve()}`", "", "| stage | result | attempts | seconds |",
           "|---|---|---|---|"]
    out += [f"| {r['stage']} | {r['status']} | {r['attempts']} | {r['seconds']} |" for r in results]
    return "\n".join(out) + "\n"


@flow(name="reproduce", log_prints=True)
def reproduce(repo: str = ".", targets: list[str] | str | None = None, force: bool = False,
              retries: int = DEFAULT_RETRIES, retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
              mlflow_ui_url: str | None = None, publish: bool = True) -> dict[str, Any]:
    """Run the DVC pipeline of `repo` stage by stage (see the module doc).

    repo: the repository root (dvc.yaml, params.yaml); targets: stage names (with their
    upstream stages), default all; force: rerun even unchanged stages (`--force`);
    retries / retry_delay_s: per stage, exponential backoff; mlflow_ui_url: base URL for run
    links; publish: create the markdown artifacts.
    -> {"repo", "stages": [{stage, status, attempts, seconds}], "artifacts": {key: id}}."""
    logger = get_run_logger()
    repo = str(Path(repo).resolve())
    if isinstance(targets, str):
        targets = [targets]
    stages = plan_stages(repo, targets)
    runner = repro_stage.with_options(retries=retries, retry_delay_seconds=retry_delays(retries, retry_delay_s))
    results = []
    for stage in stages:
        results.append(runner(repo, stage, force))
    counts = {st: sum(r["status"] == st for r in results) for st in (RAN, RESTORED, SKIPPED)}
    print(f"pipeline done: {counts[RAN]} ran, {counts[RESTORED]} restored from the run cache, "
          f"{counts[SKIPPED]} unchanged ({len(results)} stages)")
    artifacts: dict[str, str] = {}
    if publish:
        artifacts = publish_tables(repo, mlflow_ui_url)
        artifacts["reproduce-stages"] = str(create_markdown_artifact(
            markdown=stages_markdown(repo, results), key="reproduce-stages",
            description="DVC stages of the reproduce flow"))
    logger.info("artifacts: %s", ", ".join(artifacts) or "none")
    return {"repo": repo, "stages": results, "artifacts": artifacts}


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m pipelines.reproduce", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", default=".")
    p.add_argument("--target", action="append", help="a stage (repeatable; default: all)")
    p.add_argument("--force", action="store_true")
    p.add_argument("--retries", type=int, default=DEFAULT_RETRIES)
    p.add_argument("--retry-delay", type=float, default=DEFAULT_RETRY_DELAY_S)
    p.add_argument("--mlflow-ui", help="MLflow UI base URL for run links")
    a = p.parse_args(argv)
    state = reproduce(repo=a.repo, targets=a.target, force=a.force, retries=a.retries,
                      retry_delay_s=a.retry_delay, mlflow_ui_url=a.mlflow_ui, return_state=True)
    return 0 if state.is_completed() else 1


if __name__ == "__main__":
    import sys

    sys.exit(main())
