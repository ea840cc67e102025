"""The quick path: a scheduled deployment of the retrain flow, served by this process.

    python -m pipelines.deploy [--cron "0 3 * * *"] [--timezone UTC] [--name nightly]
                               [--repo .] [--fid no_trunc] [--variant NAME --seed N]

`retrain.serve(...)` registers the deployment `retrain/<name>` with a cron schedule and runs
its flow runs (each in a subprocess) while this process lives; when it ends, the deployment
is paused. For a deployment that outlives the shell use prefect.yaml with a process work pool
and a detached worker (docs/operations.md, "Prefect flows"). Either way it needs a Prefect server (keep
the same PREFECT_HOME in every shell):

    export PREFECT_HOME=$PWD/.prefect PREFECT_SERVER_ANALYTICS_ENABLED=false
    setsid nohup prefect server start --host 127.0.0.1 --port 4200 > .prefect/server.log 2>&1 &
    export PREFECT_API_URL=http://127.0.0.1:4200/api          # in the shell of this command
    python -m pipelines.deploy --cron "0 3 * * *"

Trigger a run now instead of waiting for the clock (from any shell with PREFECT_API_URL):
    prefect deployment run 'retrain/nightly' [--param fid=min_fid]
or `prefect.deployments.run_deployment("retrain/nightly", timeout=...)` in Python. The
runner polls for work every PREFECT_RUNNER_POLL_FREQUENCY seconds (default 10), so a
triggered run starts within ~10 s. Stopping this process (Ctrl-C) pauses the deployment
(its schedule stops until it is served again).

Without PREFECT_API_URL there is no server to hold a schedule: flows then run in Prefect's
ephemeral mode (a temporary local server inside each `python -m pipelines.retrain` /
`pipelines.reproduce` process, started on first use, ~10-20 s), which is fine for one-off
runs but cannot serve a cron deployment, so this command refuses to start.

Environment (set here when unset, before Prefect is imported: it reads its settings at
import): PREFECT_HOME=<project>/.prefect (Prefect's DB, profiles, result storage; default
~/.prefect mixes projects), PREFECT_SERVER_ANALYTICS_ENABLED=false (else a "database is
locked" telemetry error on the first run), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=90
(the first ephemeral start with migrations took ~17-20 s here, the default is 20),
DVC_NO_ANALYTICS=1, MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false. Prefect 3.8.8's server needs
fastapi < 0.151 and SQLAlchemy < 2.1 (pinned in pyproject.toml): with newer fastapi it dies at
import (`Body() got an unexpected keyword argument 'min_items'`), with SQLAlchemy 2.1 its
scheduler never creates the cron's runs.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipelines.common import apply_env_defaults

DEFAULT_CRON = "0 3 * * *"
DEFAULT_NAME = "nightly"
SERVER_HINT = """\
no Prefect server configured (PREFECT_API_URL is unset). Start one, then rerun with its URL:
    export PREFECT_HOME={home} PREFECT_SERVER_ANALYTICS_ENABLED=false
    prefect server start --host 127.0.0.1 --port 4200
    export PREFECT_API_URL=http://127.0.0.1:4200/api
(one-off runs need no server: python -m pipelines.retrain --repo {repo})"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m pipelines.deploy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cron", default=DEFAULT_CRON, help=f'schedule (default: "{DEFAULT_CRON}")')
    p.add_argument("--timezone", default="UTC", help="the cron's time zone (default: UTC)")
    p.add_argument("--name", default=DEFAULT_NAME, help=f"deployment name (default: {DEFAULT_NAME})")
    p.add_argument("--repo", default=".", help="repository the flow retrains (default: .)")
    p.add_argument("--fid", default="no_trunc", choices=("no_trunc", "min_fid", "fid_best"))
    p.add_argument("--variant")
    p.add_argument("--seed", type=int)
    p.add_argument("--limit", type=int, default=1, help="concurrent runs of this deployment (default: 1; two retrains would run "
                                                        "`dvc repro` in one repo at once, which DVC's lock refuses)")
    return p.parse_args(argv)


def deployment_parameters(a: argparse.Namespace) -> dict:
    params = {"repo": str(Path(a.repo).resolve()), "fid": a.fid}
    if a.variant is not None:
        params["variant"] = a.variant
    if a.seed is not None:
        params["seed"] = a.seed
    return params


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    apply_env_defaults()
    if not os.environ.get("PREFECT_API_URL"):
        print(SERVER_HINT.format(home=os.environ["PREFECT_HOME"], repo=a.repo), file=sys.stderr)
        return 2
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from pipelines.retrain import retrain

    params = deployment_parameters(a)
    print(f"serving retrain/{a.name}: cron {a.cron!r} ({a.timezone}), parameters {params}, "
          f"server {os.environ['PREFECT_API_URL']}", flush=True)
    print(f"trigger now: prefect deployment run 'retrain/{a.name}'", flush=True)
    # the module path (not the file path) as entrypoint: the runner's subprocess imports
    # pipelines.retrain from the installed project whatever its working directory
    retrain.serve(name=a.name, schedules=[Cron(a.cron, timezone=a.timezone)], parameters=params,
                  limit=a.limit, entrypoint_type=EntrypointType.MODULE_PATH,
                  description="Retrain on new or changed data; register, compare and promote the generator.",
                  tags=["biggan", "retrain"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
