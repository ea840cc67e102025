"""MLflow helpers against a real SQLite store; the fail-fast check against a closed port."""
import time

import numpy as np
import pytest

from biggan.config import parse_params
from biggan.tracking.logger import LOGGED_TO, RunLogger
from biggan.tracking.mlflow_run import (TrackingUnavailable, check_reachable, flatten, open_run,
                                        resolve_uri)
from tests.train.fakes import DigitsStream


def test_resolve_uri(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_uri("sqlite:///mlflow.db", tmp_path) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert resolve_uri("sqlite:////abs/x.db", tmp_path) == "sqlite:////abs/x.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///sub/other.db")
    assert resolve_uri("sqlite:///mlflow.db", tmp_path) == f"sqlite:///{tmp_path / 'sub/other.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_uri("sqlite:///mlflow.db", tmp_path) == "http://127.0.0.1:5000"


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {"a.b": "1", "a.c.d": "[1, 2]", "e": "None"}


def test_unreachable_server_fails_fast_before_training(tmp_path, monkeypatch, free_port):
    url = f"http://127.0.0.1:{free_port}"          # nothing listens there
    with pytest.raises(TrackingUnavailable, match="unreachable"):
        check_reachable(url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    spec = parse_params({
        "datasets": {"d": {"source": {"kind": "digits"}, "resolution": 16}},
        "model": {"resolution": 16, "ch": 2, "dim_z": 12, "n_classes": 10, "shared_dim": 4, "attention": []},
        "train": {"batch_size": 8, "num_workers": 2, "evaluate": False},
        "variants": {"v": {"dataset": "d"}},
    }).run("v", 0)
    from biggan.train.run import train

    t0 = time.perf_counter()
    with pytest.raises(TrackingUnavailable, match=f"127.0.0.1:{free_port}"):
        train(spec, root=tmp_path, storage=tmp_path / "store", data=DigitsStream(16, 4))
    assert time.perf_counter() - t0 < 10
    assert not (tmp_path / "store").exists()       # nothing started, nothing written


def test_logger_batches_and_logs_each_step_once_across_a_restart(tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    run_id, resumed = open_run(uri, "exp", "r", {"variant": "v"}, {"train": {"lr": 1}})
    assert not resumed
    first = RunLogger(uri, run_id, min_interval_s=0.05)
    for step in range(1, 6):
        first.metrics(step, {"g_loss": float(step), "d_loss": 1.0})
    first.image(5, "samples", np.zeros((4, 4, 3), np.uint8))
    first.close()
    assert first.errors == []
    # resumed from an older checkpoint: steps 3..5 are recomputed with other values
    again, resumed = open_run(uri, "exp", "r", {}, {}, resume_run_id=run_id)
    assert (again, resumed) == (run_id, True)
    second = RunLogger(uri, run_id, min_interval_s=0.05)
    for step in range(3, 9):
        second.metrics(step, {"g_loss": 100.0 + step, "d_loss": 1.0})
    second.close()
    client = MlflowClient(uri)
    hist = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "g_loss"))
    assert [s for s, _ in hist] == list(range(1, 9))
    assert dict(hist)[4] == 4.0 and dict(hist)[7] == 107.0
    run = client.get_run(run_id)
    assert run.data.tags[LOGGED_TO] == "8" and run.data.params["train.lr"] == "1"
    assert any(a.path.startswith("images") for a in client.list_artifacts(run_id))
