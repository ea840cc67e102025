"""Prefect flow: DVC's own `dvc repro` as one Prefect task, then the results tables.

    python -m pipelines.reproduce [--repo .] [--target STAGE ...] [--force]
                                  [--retries 2] [--retry-delay 10] [--mlflow-ui URL]

or from Python: `from pipelines.reproduce import reproduce; reproduce(repo=".")`.

What it does
  1. dvc-status: DVC's `status` (as `dvc status [targets]`), the stages it considers out of date. It also
     checks the pipeline: an invalid dvc.yaml or an unknown target fails the flow here, at
     once and without retries (no attempt could fix it).
  2. dvc-repro: ONE `dvc repro [--force] [targets]` in `repo`; DVC walks its graph, skips
     what did not change, restores from its run cache, runs the rest (serially, as `dvc
     repro` always does). Every output line is streamed into the task's Prefect log as it
     arrives ("[dvc] <line>"). A failure is retried `retries` times (default 2) with
     Prefect's exponential_backoff, `retry_delay_s * 2**k` seconds before retry k+1 (10 s, 20 s):
     DVC writes a stage's dvc.lock entry as soon as that stage finishes, so a retry resumes
     at the failed stage; the stages done before it are not rerun. Which stages an attempt
     finished is read from dvc.lock before and after it (logged per attempt).
     `dvc repro` exits 255 whatever the failing command's own status, so a stage that
     exits 2 (this project's "bad params / missing input") is retried like any other
     failure; the retries are cheap (the stage fails at validation, nothing before it
     reruns), and the flow then fails naming DVC's exit status and the last output lines.
  3. per-stage outcome, from DVC's state, not from its log text: `reproduced` (its dvc.lock
     entry was written by this flow, or DVC listed it as out of date before and no longer
     does), `unchanged`, or `pending` (still listed by `dvc status --json` afterwards: the
     failed stage or one not reached).
  4. artifacts: results/table1.md .. table3.md as Prefect markdown artifacts (keys table1,
     table2, table3), each followed by links to the MLflow runs of its variants (run ids from
     metrics/train/<variant>/s<seed>.json); a summary of the stages (key reproduce-stages).

MLflow links: `mlflow_ui_url` (e.g. http://127.0.0.1:5000 from `python -m biggan ui`), else
the tracking URI when it is an http(s) server; the link is
`<base>/#/experiments/<experiment id>/runs/<run id>`. With a local SQLite store and no UI URL
the artifact names the run id and the store instead.

Without PREFECT_API_URL the flow runs in Prefect's ephemeral mode (a temporary local server
per process); see docs/operations.md, "Prefect flows", for a persistent server, work pool and worker.
"""
from __future__ import annotations

import json
import subprocess
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from biggan.config import Params

if __name__ == "__main__":          # before prefect's import: it reads its settings then
    from pipelines.common import apply_env_defaults
    apply_env_defaults()

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from pipelines.common import dvc_lock, dvc_status, read_params, subprocess_env, tool, tracking_settings

DEFAULT_RETRIES = 2
DEFAULT_RETRY_DELAY_S = 10.0
TABLES = (1, 2, 3)
TAIL_LINES = 30
REPRODUCED, UNCHANGED, PENDING = "reproduced", "unchanged", "pending"


class ReproFailed(RuntimeError):
    """`dvc repro` exited non-zero; the message holds its last output lines."""


def written(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Stages whose dvc.lock entry is new or different in `after`, in dvc.lock's order."""
    return [name for name, entry in after.items() if before.get(name) != entry]


def run_dvc_repro(repo: str | Path, targets: list[str] | None = None, force: bool = False,
                  log=None) -> float:
    """`dvc repro [--force] [targets]` in `repo`, each output line to `log` -> seconds;
    raises ReproFailed with the last output lines."""
    log = log or (lambda line: print(line, flush=True))
    cmd = [tool("dvc"), "repro", *(["--force"] if force else []), *(targets or [])]
    t0 = time.monotonic()
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    p = subprocess.Popen(cmd, cwd=str(repo), env=subprocess_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, bufsize=1, errors="replace")
    try:
        assert p.stdout is not None
        for raw in p.stdout:                # universal newlines: tqdm's \r updates are lines too
            line = raw.rstrip()
            if line.strip():
                tail.append(line)
                log(f"[dvc] {line}")
        rc = p.wait()
    except BaseException:
        p.kill()
        p.wait()
        raise
    seconds = round(time.monotonic() - t0, 2)
    if rc != 0:
        raise ReproFailed(f"`{' '.join(cmd[1:])}` in {repo} failed (exit {rc}) after {seconds} s; "
                          f"last lines:\n" + "\n".join(tail))
    return seconds


@task(name="dvc-status", cache_policy=NO_CACHE)
def status_task(repo: str, targets: list[str] | None = None) -> dict[str, Any]:
    status = dvc_status(repo, targets)
    get_run_logger().info("dvc status: %s", ", ".join(status) or "everything up to date")
    return status


@task(name="dvc-repro", cache_policy=NO_CACHE, retries=DEFAULT_RETRIES,
      retry_delay_seconds=exponential_backoff(DEFAULT_RETRY_DELAY_S))
def repro_task(repo: str, targets: list[str] | None = None, force: bool = False) -> dict[str, Any]:
    from prefect.runtime import task_run

    logger = get_run_logger()
    attempt = int(task_run.run_count or 1)
    if attempt > 1:
        logger.warning("dvc repro: attempt %d, resuming from dvc.lock", attempt)
    before = dvc_lock(repo)
    try:
        seconds = run_dvc_repro(repo, targets, force, log=logger.info)
    finally:
        done = written(before, dvc_lock(repo))
        logger.info("attempt %d finished %d stage(s): %s", attempt, len(done), ", ".join(done) or "none")
    return {"attempts": attempt, "seconds": seconds}


def stage_outcomes(before_lock: dict, after_lock: dict, before_status: dict, after_status: dict) -> list[dict]:
    """[{stage, status}] for every stage in dvc.lock or either status (see the module doc)."""
    names = list(after_lock) + [n for n in list(before_status) + list(after_status) if n not in after_lock]
    changed = set(written(before_lock, after_lock))
    out = []
    for name in dict.fromkeys(names):
        if name in after_status:
            st = PENDING
        elif name in changed or name in before_status:
            st = REPRODUCED
        else:
            st = UNCHANGED
        out.append({"stage": name, "status": st})
    return out


def run_links(repo: str | Path, params: Params, variants: list[str] | None = None,
              mlflow_ui_url: str | None = None) -> list[dict[str, str]]:
    """The MLflow runs of the train stages (all, or of `variants`) with their UI links."""
    from biggan.report.collect import run_file

    repo = Path(repo)
    tracking = tracking_settings(repo, params)
    uri = tracking["uri"]
    base = (mlflow_ui_url or (uri if uri.startswith(("http://", "https://")) else "")).rstrip("/")
    rows, client = [], None
    for spec in params.runs():
        variant, seed = spec.variant, spec.seed
        if variants is not None and variant not in variants:
            continue
        path = run_file(repo / "metrics" / "train", variant, seed)
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
        return "_No MLflow runs recorded (no mlflow_run_id in metrics/train/<variant>/s<seed>.json)._\n"
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
        variants = [name for name, v in params.variants.items() if n in v.tables]
        md = (path.read_text().rstrip() + "\n\n### MLflow runs\n\n"
              + links_markdown(run_links(repo, params, variants, mlflow_ui_url)))
        artifact_id = create_markdown_artifact(markdown=md, key=f"table{n}",
                                               description=f"Table {n} of {Path(repo).resolve()}")
        published[f"table{n}"] = str(artifact_id)
        logger.info("published %s as artifact table%d", path, n)
    return published


def stages_markdown(repo: str, stages: list[dict[str, Any]], attempts: int, seconds: float | None) -> str:
    took = "failed" if seconds is None else f"{seconds} s"
    out = [f"## DVC pipeline of `{Path(repo).resolve()}`", "",
           f"One `dvc repro`: {attempts} attempt(s), {took}.", "", "| stage | result |", "|---|---|"]
    out += [f"| {r['stage']} | {r['status']} |" for r in stages]
    return "\n".join(out) + "\n"


@flow(name="reproduce", log_prints=True)
def reproduce(repo: str = ".", targets: list[str] | str | None = None, force: bool = False,
              retries: int = DEFAULT_RETRIES, retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
              mlflow_ui_url: str | None = None, publish: bool = True) -> dict[str, Any]:
    """Run the DVC pipeline of `repo` with one `dvc repro` (see the module doc).

    repo: the repository root (dvc.yaml, params.yaml); targets: stage names (with their
    upstream stages), default all; force: rerun even unchanged stages (`--force`);
    retries / retry_delay_s: of the `dvc repro` task, exponential backoff; mlflow_ui_url:
    base URL for run links; publish: create the markdown artifacts.
    -> {"repo", "stages": [{stage, status}], "attempts", "seconds", "artifacts": {key: id}}."""
    logger = get_run_logger()
    repo = str(Path(repo).resolve())
    if isinstance(targets, str):
        targets = [targets]
    before_status, before_lock = status_task(repo, targets), dvc_lock(repo)
    runner = repro_task.with_options(retries=retries, retry_delay_seconds=exponential_backoff(retry_delay_s))
    state = runner(repo, targets, force, return_state=True)
    run = state.result(raise_on_failure=False) if state.is_completed() else None
    stages = stage_outcomes(before_lock, dvc_lock(repo), before_status, dvc_status(repo, targets))
    counts = {st: sum(r["status"] == st for r in stages) for st in (REPRODUCED, UNCHANGED, PENDING)}
    print(f"dvc repro {'done' if run else 'FAILED'}: {counts[REPRODUCED]} stage(s) reproduced, "
          f"{counts[UNCHANGED]} unchanged, {counts[PENDING]} pending ({len(stages)} stages)")
    artifacts: dict[str, str] = {}
    if publish:
        attempts = run["attempts"] if run else retries + 1
        artifacts["reproduce-stages"] = str(create_markdown_artifact(
            markdown=stages_markdown(repo, stages, attempts, run["seconds"] if run else None),
            key="reproduce-stages", description="DVC stages of the reproduce flow"))
    if run is None:
        state.result()                      # raises the last attempt's ReproFailed
    if publish:
        artifacts.update(publish_tables(repo, mlflow_ui_url))
    logger.info("artifacts: %s", ", ".join(artifacts) or "none")
    return {"repo": repo, "stages": stages, "attempts": run["attempts"], "seconds": run["seconds"],
            "artifacts": artifacts}


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
