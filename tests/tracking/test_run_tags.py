"""Issue 15.3: what a training run carries besides its metrics: MLflow's source tags, the git
revision and DVC experiment, the shards as its dataset input; the experiment opens on runs."""
import hashlib
import json

from biggan.tracking.training import open_training_run
from biggan.train.run import run_name
from tests.conftest import REPO_ROOT
from tests.train.specs import tiny_spec


def test_training_run_tags_dataset_and_experiment_kind(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_EXP_NAME", "lucky-lamb")
    monkeypatch.setenv("DVC_STAGE", "train@tiny-0")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = tiny_spec(uri=uri)
    shards = tmp_path / "shards" / "d16" / "train"
    shards.mkdir(parents=True)
    index = {"shards": [{"path": "shard-000000.tar", "count": 3, "bytes": 10240}], "count": 3}
    (shards / "index.json").write_text(json.dumps(index))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run_id = open_training_run(spec, REPO_ROOT, uri, run_name(spec), run_dir, None, shard_dir=shards)

    client = MlflowClient(uri)
    run = client.get_run(run_id)
    tags = run.data.tags
    assert tags["mlflow.source.name"] == "stages/train.py" and tags["mlflow.source.type"] == "JOB"
    assert tags["dvc.exp_name"] == "lucky-lamb" and tags["dvc_stage"] == "train@tiny-0"
    assert len(tags["mlflow.source.git.commit"]) == 40 and tags["biggan.git_revision"].startswith(
        tags["mlflow.source.git.commit"])
    (ds,) = run.inputs.dataset_inputs
    assert ds.dataset.name == "d16-train"
    assert ds.dataset.digest == hashlib.sha256((shards / "index.json").read_bytes()).hexdigest()[:16]
    assert str(shards) in ds.dataset.source
    assert {t.key: t.value for t in ds.tags}["mlflow.data.context"] == "training"
    exp = client.get_experiment(run.info.experiment_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    view = json.loads(exp.tags["mlflow.sharedViewState.table2"])
    assert view["orderByKey"] == "metrics.`sweep_fid_untruncated`" and view["orderByAsc"] is True
    assert json.loads((run_dir / "mlflow_run.json").read_text()) == {"run_id": run_id, "uri": uri}
    # resumed: the same run, no second dataset input
    assert open_training_run(spec, REPO_ROOT, uri, run_name(spec), run_dir, None, shard_dir=shards) == run_id
    assert len(client.get_run(run_id).inputs.dataset_inputs) == 1
