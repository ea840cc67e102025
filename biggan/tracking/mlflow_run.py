"""The driver's side of MLflow: store resolution, fail-fast check, one run per training run.

Facts this relies on (MLflow 3.17, verified on this project's machines):
  * the file store (`./mlruns`, `file:`) is refused ("maintenance mode"): the default here
    is SQLite, `tracking.uri` = sqlite:///mlflow.db resolved against the repo root;
    MLFLOW_TRACKING_URI overrides it.
  * an HTTP client retries for minutes before failing, so a server is probed with one
    short GET /health before anything starts.
  * the generator is logged as an MLflow 3 LoggedModel whose artifacts are the train
    stage's model folder (G_ema.pt state_dict + model.json): no pickle, no code. Loading it
    (biggan.sampling.load) rebuilds G from the installed `biggan` and
    torch.load(weights_only=True); registering `models:/m-<id>` works like any model.
  * an HTTP client retries a request for ~2 minutes by default (MLFLOW_HTTP_REQUEST_*
    env vars, read per request): `quick_http` shortens that for training processes.
  * the UI opens an experiment on its GenAI overview unless the experiment tag
    `mlflow.experimentKind` says otherwise ("custom_model_development": the runs table).
  * `MlflowClient.log_batch` splits what it is given into requests within the server's limits
    (<= 1000 metrics, 100 params, 100 tags each), so callers hand it whole lists.
  * runs created without an experiment land in "Default": the driver creates the run in
    the configured experiment and rank 0 logs into it by run id.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
MODEL_TYPE = "biggan-generator"
# A saved runs-table view (what the UI's "Share" button stores as an experiment tag; opened with
# #/experiments/<id>/runs?<VIEW_QUERY>): runs grouped by variant (seeds averaged), sorted by the
# untruncated sweep FID, Table 1/2 scores as columns. `workflowType=machine_learning` selects
# the UI's "Model training" side (3.17 keeps the GenAI/Model training switch per browser).
VIEW_KEY = "table2"
VIEW_QUERY = f"workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"
SCORE_COLUMNS = ("sweep_fid_untruncated", "sweep_is_untruncated", "sweep_fid_min", "sweep_is_at_fid_min",
                 "sweep_is_valid", "sweep_is_max", "fid_best", "is_best")
COMPARISON_VIEW = ("mlflow.sharedViewState." + VIEW_KEY, json.dumps({
    "orderByKey": "metrics.`sweep_fid_untruncated`", "orderByAsc": True,
    "groupBy": {"aggregateFunction": "average", "groupByKeys": [{"mode": "tag", "groupByData": "variant"}]},
    "selectedColumns": ["attributes.`Source`", "attributes.`Dataset`", "tags.`variant`", "tags.`seed`",
                        *(f"metrics.`{k}`" for k in SCORE_COLUMNS)]}, sort_keys=True))
# a training process's MLflow HTTP policy: ~1 s to give up on a refused connection, <= 2 x 10 s
# on a hung server (MLflow's defaults: 7 retries, backoff factor 2, 120 s timeout: minutes).
# The logger keeps what failed and sends it again at the next flush, so one retry is enough.
QUICK_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
              "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


class TrackingUnavailable(RuntimeError):
    pass


def quick_http() -> None:
    """Short MLflow HTTP retries for this process (values a user exported are kept)."""
    for k, v in QUICK_HTTP.items():
        os.environ.setdefault(k, v)


def redact(uri: str) -> str:
    """The URI without credentials: http://user:secret@host -> http://***@host."""
    p = urllib.parse.urlsplit(uri)
    if not p.netloc or "@" not in p.netloc:
        return uri
    return urllib.parse.urlunsplit(p._replace(netloc="***@" + p.netloc.rsplit("@", 1)[1]))


def redact_text(text: str, uri: str) -> str:
    """`text` with the credentials of `uri` (and the URI itself) replaced."""
    text = text.replace(uri, redact(uri))
    p = urllib.parse.urlsplit(uri)
    if p.netloc and "@" in p.netloc:
        text = text.replace(p.netloc.rsplit("@", 1)[0], "***")
    return text


def resolve_uri(configured: str, root: Path) -> str:
    """MLFLOW_TRACKING_URI, else `configured`; relative sqlite paths resolve against `root`;
    credentials in an http(s) URI move to MLflow's own variables (see `move_credentials`)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        uri = prefix + str((Path(root) / uri[len(prefix):]).resolve())
    return move_credentials(uri)


def move_credentials(uri: str) -> str:
    """http://user:pw@host -> http://host with MLFLOW_TRACKING_USERNAME / _PASSWORD set (values
    already exported win): MLflow sends them as basic auth and none of its messages (retries,
    async logging errors) can print them. A local Ray started afterwards inherits them."""
    p = urllib.parse.urlsplit(uri)
    if p.scheme not in ("http", "https") or "@" not in p.netloc:
        return uri
    os.environ.setdefault("MLFLOW_TRACKING_USERNAME", urllib.parse.unquote(p.username or ""))
    if p.password is not None:
        os.environ.setdefault("MLFLOW_TRACKING_PASSWORD", urllib.parse.unquote(p.password))
    return urllib.parse.urlunsplit(p._replace(netloc=p.netloc.rsplit("@", 1)[1]))


def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None


def check_reachable(uri: str, timeout_s: float = 3.0) -> None:
    """Raise TrackingUnavailable at once if the store cannot be used."""
    if uri.startswith(("http://", "https://")):
        req = urllib.request.Request(move_credentials(uri).rstrip("/") + "/health")
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        if user:                              # basic auth, as MLflow's client sends it
            import base64
            token = base64.b64encode(f"{user}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}".encode())
            req.add_header("Authorization", "Basic " + token.decode())
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as r:
                if r.status != 200:
                    raise TrackingUnavailable(f"MLflow tracking server {redact(uri)}: GET /health returned {r.status}")
        except (urllib.error.URLError, OSError) as e:
            raise TrackingUnavailable(
                f"MLflow tracking server {redact(uri)} is unreachable ({getattr(e, 'reason', e)}); start it, or unset "
                f"MLFLOW_TRACKING_URI to use the local SQLite store of params.yaml's tracking.uri") from None
        return
    db = sqlite_path(uri)
    if db is not None:
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TrackingUnavailable(f"MLflow SQLite store {uri}: cannot create {db.parent}: {e}") from None
        if not os.access(db.parent, os.W_OK):
            raise TrackingUnavailable(f"MLflow SQLite store {uri}: {db.parent} is not writable")


def flatten(d: dict, prefix: str = "") -> dict[str, str]:
    """{'a': {'b': 1}} -> {'a.b': '1'}; lists as their repr."""
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = str(v)
    return out


def git_commit(root: Path) -> str:
    try:
        r = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                           timeout=10)
        commit = r.stdout.strip() if r.returncode == 0 else "unknown"
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("-dirty" if commit != "unknown" and dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _experiment_id(client, name: str, uri: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is None:
        db = sqlite_path(uri)
        location = (db.parent / "mlruns" / name).as_uri() if db is not None else None
        try:
            return client.create_experiment(name, artifact_location=location,
                                            tags=dict([EXPERIMENT_KIND, COMPARISON_VIEW]))
        except Exception:                          # created concurrently by another stage
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    for key, value in (EXPERIMENT_KIND, COMPARISON_VIEW):
        if exp.tags.get(key) != value:
            client.set_experiment_tag(exp.experiment_id, key, value)
    return exp.experiment_id


def source_tags(root: Path, entry_point: str) -> dict[str, str]:
    """MLflow's own source tags (the UI's Source column) plus the revision and DVC experiment.

    `biggan.git_revision` is the commit with `-dirty` when tracked files differ; `dvc exp run`
    sets DVC_EXP_NAME and DVC_EXP_BASELINE_REV for its stages, so reruns are told apart."""
    from mlflow.utils.mlflow_tags import MLFLOW_GIT_COMMIT, MLFLOW_SOURCE_NAME, MLFLOW_SOURCE_TYPE

    rev = git_commit(root)
    tags = {MLFLOW_SOURCE_NAME: entry_point, MLFLOW_SOURCE_TYPE: "JOB" if os.environ.get("DVC_STAGE") else "LOCAL",
            "biggan.git_revision": rev, "dvc.exp_name": os.environ.get("DVC_EXP_NAME", "(workspace)")}
    if os.environ.get("DVC_EXP_BASELINE_REV"):
        tags["dvc.exp_baseline_rev"] = os.environ["DVC_EXP_BASELINE_REV"]
    if rev != "unknown":
        tags[MLFLOW_GIT_COMMIT] = rev.removesuffix("-dirty")
    return tags


def open_run(uri: str, experiment: str, run_name: str, tags: dict[str, str], params: dict[str, Any],
             resume_run_id: str | None = None) -> tuple[str, bool]:
    """Continue `resume_run_id` if it exists in this store, else create a run; -> (run_id, resumed)."""
    from mlflow import MlflowClient
    from mlflow.entities import Param, RunTag
    from mlflow.exceptions import MlflowException

    client = MlflowClient(uri)
    if resume_run_id:
        try:
            run = client.get_run(resume_run_id)
            if run.info.lifecycle_stage == "active":
                client.update_run(resume_run_id, status="RUNNING")
                return resume_run_id, True
        except MlflowException:
            pass
    run = client.create_run(_experiment_id(client, experiment, uri), run_name=run_name)
    run_id = run.info.run_id
    client.log_batch(run_id, params=[Param(k, v) for k, v in flatten(params).items()],
                     tags=[RunTag(k, str(v)) for k, v in tags.items()])
    return run_id, False


def shard_dataset(shard_dir: Path, name: str):
    """The shards of one split as an MLflow dataset: name, digest of index.json, path as source."""
    import hashlib

    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    index = Path(shard_dir) / "index.json"
    digest = hashlib.sha256(index.read_bytes()).hexdigest()[:16]
    with warnings.catch_warnings():          # MLflow registers its local source twice and says so
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(str(Path(shard_dir).resolve()))
    return MetaDataset(source, name=name, digest=digest)


_DATASETS = threading.Lock()


def log_dataset(uri: str, run_id: str, shard_dir: Path, name: str, context: str = "training") -> bool:
    """Log the shards as the run's dataset input; False when there is no index.json.

    The seeds of a variant start together and log the same dataset: MLflow's store creates
    it on first use and a concurrent second insert fails its UNIQUE constraint. One at a time
    in this process, and once more if another process won the race."""
    from mlflow import MlflowClient
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.exceptions import MlflowException
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    if not (Path(shard_dir) / "index.json").is_file():
        return False
    ds = shard_dataset(shard_dir, name)
    inputs = [DatasetInput(ds._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)])]
    with _DATASETS:
        try:
            MlflowClient(uri).log_inputs(run_id, datasets=inputs)
        except MlflowException as e:
            if "UNIQUE" not in str(e):
                raise
            MlflowClient(uri).log_inputs(run_id, datasets=inputs)
    return True


def finish_run(uri: str, run_id: str, metrics: dict[str, float], tags: dict[str, str], step: int,
               status: str = "FINISHED", model_dir: Path | None = None, model_name: str = "G_ema",
               artifacts: dict[str, Path] | None = None) -> tuple[str | None, list[str]]:
    """Summary metrics and tags, files, the generator (a model folder), then close the run.

    Each part is tried on its own: -> (model URI or None, what could not be logged). The
    run is closed only when everything else arrived, so an incomplete run stays RUNNING."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, RunTag

    client = MlflowClient(uri)
    failed: list[str] = []

    def attempt(what: str, fn):
        try:
            return fn()
        except Exception as e:
            failed.append(f"{what} ({redact_text(f'{type(e).__name__}: {e}', uri)[:300]})")
            return None

    now = int(time.time() * 1000)
    attempt("summary metrics and tags", lambda: client.log_batch(
        run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None],
        tags=[RunTag(k, str(v)) for k, v in tags.items()]))
    for sub, path in (artifacts or {}).items():
        log = client.log_artifacts if Path(path).is_dir() else client.log_artifact
        attempt(f"artifact {sub}", lambda log=log, path=path, sub=sub: log(run_id, str(path), artifact_path=sub))
    model_uri = None
    if model_dir is not None:
        model_uri = attempt("model", lambda: log_generator(uri, run_id, model_dir, model_name, step))
    if not failed:
        attempt("run status", lambda: client.set_terminated(run_id, status=status))
    return model_uri, failed


def abort_run(uri: str, run_id: str) -> str | None:
    """Mark the run FAILED on an error path; never raises (-> the problem, or None)."""
    quick_http()
    try:
        from mlflow import MlflowClient

        MlflowClient(uri).set_terminated(run_id, status="FAILED")
        return None
    except Exception as e:
        return redact_text(f"could not mark MLflow run {run_id} FAILED: {type(e).__name__}: {e}", uri)[:500]


@contextmanager
def global_tracking_uri(uri: str):
    """Point MLflow's fluent API at `uri` for a block: it reads a process-global URI (and
    exports it as MLFLOW_TRACKING_URI); both are put back afterwards."""
    import mlflow
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_env, saved_uri = os.environ.get("MLFLOW_TRACKING_URI"), tracking_utils._tracking_uri
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_uri)
        if saved_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved_env


def log_generator(uri: str, run_id: str, model_dir: Path, name: str, step: int) -> str:
    """A model folder (G_ema.pt state_dict + model.json) as a LoggedModel of the run -> models:/m-<id>."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exp_id = client.get_run(run_id).info.experiment_id
    lm = client.create_logged_model(exp_id, name=name, source_run_id=run_id, model_type=MODEL_TYPE,
                                    tags={"step": str(step)})
    try:
        client.log_model_artifacts(lm.model_id, str(model_dir))
    except BaseException:
        client.finalize_logged_model(lm.model_id, "FAILED")
        raise
    client.finalize_logged_model(lm.model_id, "READY")
    return f"models:/{lm.model_id}"
