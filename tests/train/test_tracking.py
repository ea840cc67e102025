"""MLflow helpers against a real SQLite store; the fail-fast check against a closed port;
a real tiny training whose MLflow history must equal its CSV history step by step."""
import csv
import json
import os
import time
from dataclasses import dataclass

import numpy as np
import pytest

from biggan.config import parse_params
from biggan.tracking.logger import RunLogger
from biggan.tracking.mlflow_run import (TrackingUnavailable, check_reachable, flatten, open_run, redact,
                                        resolve_uri)
from tests.train.fakes import DigitsStream, TinyScorer
from tests.train.specs import RES, tiny_spec


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


def test_logger_logs_each_step_once_across_a_restart(tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    run_id, resumed = open_run(uri, "exp", "r", {"variant": "v"}, {"train": {"lr": 1}})
    assert not resumed
    first = RunLogger(uri, run_id)
    for step in range(1, 6):
        first.metrics(step, {"g_loss": float(step), "d_loss": 1.0})
    first.image(5, "samples", np.zeros((4, 4, 3), np.uint8))
    first.close()
    assert first.errors == []
    # resumed from an older checkpoint: steps 3..5 are recomputed with other values
    again, resumed = open_run(uri, "exp", "r", {}, {}, resume_run_id=run_id)
    assert (again, resumed) == (run_id, True)
    second = RunLogger(uri, run_id)
    for step in range(3, 9):
        second.metrics(step, {"g_loss": 100.0 + step, "d_loss": 1.0, "fid": 50.0 + step})
    second.close()
    client = MlflowClient(uri)
    hist = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "g_loss"))
    assert [s for s, _ in hist] == list(range(1, 9))
    assert dict(hist)[4] == 4.0 and dict(hist)[7] == 107.0
    assert [m.step for m in client.get_metric_history(run_id, "fid")] == list(range(3, 9))  # a new key: all
    assert client.get_run(run_id).data.params["train.lr"] == "1"
    assert any(a.path.startswith("images") for a in client.list_artifacts(run_id))


def test_credentials_leave_the_uri(monkeypatch, tmp_path):
    for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(k, "")                      # recorded, so what the code sets is undone
        monkeypatch.delenv(k)
    assert redact("https://alice:s3cret@mlflow.example.org:8443/x") == "https://***@mlflow.example.org:8443/x"
    assert redact("sqlite:////tmp/m.db") == "sqlite:////tmp/m.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://alice:s3cret@127.0.0.1:1")
    uri = resolve_uri("sqlite:///mlflow.db", tmp_path)
    assert uri == "http://127.0.0.1:1"                       # MLflow's own variables carry them
    assert (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]) == ("alice", "s3cret")
    with pytest.raises(TrackingUnavailable) as e:
        check_reachable("http://alice:s3cret@127.0.0.1:1", timeout_s=1)
    assert "s3cret" not in str(e.value) and "alice" not in str(e.value) and "127.0.0.1:1" in str(e.value)


@dataclass(frozen=True)
class SlowScorer(TinyScorer):
    """TinyScorer whose evaluations take over a second, as real FID/IS evaluations do."""

    delay_s: float = 1.3

    def __call__(self, device=None):
        scorer, delay = super().__call__(device), self.delay_s
        score = scorer.score_generator

        def slow(*a, **k):
            time.sleep(delay)
            return score(*a, **k)
        scorer.score_generator = slow
        return scorer


def mlflow_history(client, run_id: str, key: str) -> dict[int, float]:
    hist = client.get_metric_history(run_id, key)
    steps = [m.step for m in hist]
    assert len(steps) == len(set(steps)), f"{key}: a step logged twice: {sorted(steps)}"
    return {m.step: m.value for m in hist}


def assert_history_matches_csv(client, run_id: str, path, key_of=lambda col: col) -> int:
    """Every (column, iteration) of a history CSV is in MLflow with the same value; -> values compared."""
    rows = list(csv.DictReader(open(path)))
    assert rows, path
    n = 0
    for col in rows[0]:
        if col == "iteration":
            continue
        logged = mlflow_history(client, run_id, key_of(col))
        want = {int(r["iteration"]): float(r[col]) for r in rows if r[col] != ""}
        assert sorted(logged) == sorted(want), f"{path.name} {col}: steps {sorted(logged)} != {sorted(want)}"
        for step, v in want.items():
            assert logged[step] == pytest.approx(v, rel=1e-6, nan_ok=True), (path.name, col, step)
            n += 1
    return n


def test_mlflow_history_equals_the_csv_history_of_a_real_training(tmp_path, monkeypatch):
    """Issue 14.1: the old logger raised its floor on every flush; with evaluations slower than
    its 1 s gathering window, step t's singular values went out alone and t's FID/IS, losses
    and sample sheet were dropped."""
    from mlflow import MlflowClient

    from biggan.train.outputs import write_stage_outputs
    from biggan.train.run import train

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = tiny_spec(uri=uri, train={"iterations": 20, "evaluate": True, "eval_every": 10, "sv_every": 5,
                                     "sample_every": 5, "checkpoint_every": 10, "eval_samples": 100})
    out = train(spec, root=tmp_path, storage=tmp_path / "store", data=DigitsStream(RES, 16),
                scorer=SlowScorer(RES))
    paths = write_stage_outputs(out, tmp_path / "models/tiny/s0", tmp_path / "metrics")
    client = MlflowClient(uri)
    run_id = out.mlflow_run_id
    assert client.get_run(run_id).info.status == "FINISHED"
    n = assert_history_matches_csv(client, run_id, paths["losses"])
    n += assert_history_matches_csv(client, run_id, paths["evals"])
    n += assert_history_matches_csv(client, run_id, paths["sigma0"], key_of=lambda col: f"sigma/{col}/s0")
    assert n > 100
    images = [a.path for a in client.list_artifacts(run_id, "images")]
    image_steps = sorted({int(p.split("+step+")[1].split("+")[0]) for p in images if p.endswith(".png")})
    assert image_steps == [5, 10, 15, 20]
    ref = json.loads((out.run_dir / "mlflow_run.json").read_text())
    assert ref["run_id"] == run_id and ref["not_logged"] == []
