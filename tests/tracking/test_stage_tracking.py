"""Issue 30.5: the train stage's `--shards` reaches MLflow. A run trained from shards at a
non-default root records those shards (path, name, digest of their index.json) as its dataset
input, not the default data/shards. Real stage, real shards, real SQLite store in tmp."""
import hashlib
import json

import yaml

from tests.train.specs import BASE

QUICK = {"iterations": 4, "log_every": 2, "sv_every": 2, "checkpoint_every": 2, "sample_every": 4}


def test_a_run_records_the_shards_it_was_trained_from(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from biggan.config import load_params
    from biggan.data.shard.build import build_shards
    from stages.train import main

    raw = {**BASE, "datasets": {"d16": {**BASE["datasets"]["d16"], "workers": 1}},
           "train": {**BASE["train"], **QUICK}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    shards = tmp_path / "elsewhere" / "d16" / "train"
    build_shards(load_params(tmp_path / "params.yaml").datasets["d16"], "train", shards, name="d16",
                 progress=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    assert main(["--variant", "tiny", "--seed", "0", "--shards", "elsewhere"]) == 0

    assert not (tmp_path / "data").exists()
    run_id = json.loads((tmp_path / "metrics/train/tiny/s0.json").read_text())["mlflow_run_id"]
    run = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(run_id)
    (ds,) = run.inputs.dataset_inputs
    assert ds.dataset.name == "d16-train"
    assert json.loads(ds.dataset.source)["uri"] == str(shards.resolve())
    assert ds.dataset.digest == hashlib.sha256((shards / "index.json").read_bytes()).hexdigest()[:16]


def test_whole_lists_go_to_mlflow_which_splits_them_into_requests(tmp_path):
    """open_run and the rank-0 logger hand MLflow whole lists (over its 100 params / 100 tags /
    1000 metrics per request); MLflow's client splits them and every value arrives once."""
    from mlflow import MlflowClient

    from biggan.tracking.logger import RunLogger
    from biggan.tracking.mlflow_run import open_run

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    params = {"p": {f"k{i:03d}": i for i in range(250)}}
    tags = {f"t{i:03d}": i for i in range(150)}
    run_id, _ = open_run(uri, "exp", "r", tags, params)
    logger = RunLogger(uri, run_id)
    logger.metrics(7, {f"m{i:04d}": float(i) for i in range(2500)})
    logger.close()
    assert logger.errors == []
    data = MlflowClient(uri).get_run(run_id).data
    assert len(data.params) == 250 and data.params["p.k249"] == "249"
    assert {k: v for k, v in data.tags.items() if k.startswith("t")} == {k: str(v) for k, v in tags.items()}
    assert data.metrics == {f"m{i:04d}": float(i) for i in range(2500)}
