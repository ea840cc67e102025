"""A completed run is handed out again, not retrained, while its configuration, code, inputs and
MLflow run are unchanged; any of them changed and it trains afresh (real tiny trainings, a real
SQLite MLflow store)."""
import os

import torch

from biggan.train import reuse
from biggan.train.run import train
from tests.train.fakes import DigitsStream
from tests.train.specs import RES, tiny_spec


def test_a_completed_run_is_reused_until_its_code_or_mlflow_run_changes(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = tiny_spec(uri=uri, train={"iterations": 10, "checkpoint_every": 5, "sample_every": 10})
    lines: list[str] = []
    kw = dict(root=tmp_path, storage=tmp_path / "store", data=DigitsStream(RES, 16), scorer=None, log=lines.append)
    client = MlflowClient(uri)

    first = train(spec, **kw)
    done = first.run_dir / reuse.DONE
    written = done.stat().st_mtime_ns
    again = train(spec, **kw)
    assert lines[-1].endswith("reused")
    assert again.mlflow_run_id == first.mlflow_run_id and again.summary == first.summary
    assert again.history.state_dict() == first.history.state_dict()
    assert all(torch.equal(again.g_ema_state[k], v) for k, v in first.g_ema_state.items())
    assert done.stat().st_mtime_ns == written
    assert len(client.search_runs([client.get_experiment_by_name(spec.tracking.experiment).experiment_id])) == 1

    # other code: trained afresh, a new MLflow run
    monkeypatch.setattr(reuse, "_code_digest", lambda: "other code")
    n = len(lines)
    second = train(spec, **kw)
    assert any("starting afresh" in line for line in lines[n:])
    assert second.mlflow_run_id != first.mlflow_run_id
    assert train(spec, **kw).mlflow_run_id == second.mlflow_run_id        # and that one is reused

    # its MLflow run deleted: the outputs would point at nothing, so it trains again
    client.delete_run(second.mlflow_run_id)
    third = train(spec, **kw)
    assert third.mlflow_run_id not in (first.mlflow_run_id, second.mlflow_run_id)


def test_the_fingerprint_follows_the_input_files(tmp_path):
    shards, net = tmp_path / "shards", tmp_path / "net.pt"
    shards.mkdir()
    (shards / "train-000000.tar").write_bytes(b"a" * 10)
    net.write_bytes(b"w")

    class Scorer:
        def inputs(self):
            return [net]

    class Data:
        shard_dir = str(shards)

    files = reuse.input_files(Data(), Scorer())
    assert files == sorted([shards / "train-000000.tar", net])
    assert reuse.input_files(object(), None) == []
    before = reuse.fingerprint(files)
    assert reuse.fingerprint(files) == before
    (shards / "train-000000.tar").write_bytes(b"b" * 10)          # same size, rewritten
    os.utime(shards / "train-000000.tar", ns=(1, 1))
    assert reuse.fingerprint(files) != before


def test_the_fingerprint_is_keyed_on_content_not_on_where_or_when(tmp_path):
    """A second clone at another path (`dvc pull`: new files, new mtimes, same bytes) gives the
    same fingerprint; other bytes give another one."""
    def clone(where, data=b"a" * 10):
        (where / "data").mkdir(parents=True)
        (where / "data" / "shard.tar").write_bytes(data)
        return [where / "data" / "shard.tar"]

    first, second, other = clone(tmp_path / "one"), clone(tmp_path / "two"), clone(tmp_path / "three", b"b" * 10)
    os.utime(second[0], ns=(5, 5))
    assert reuse.fingerprint(first, tmp_path / "one") == reuse.fingerprint(second, tmp_path / "two")
    assert reuse.fingerprint(first, tmp_path / "one") != reuse.fingerprint(other, tmp_path / "three")


def test_the_code_digest_covers_the_train_stages_imports_and_nothing_else(tmp_path):
    files = {"stages/train.py": "def main():\n    from biggan.train.run import train\n",
             "biggan/train/run.py": "from biggan import losses\n", "biggan/losses.py": "K = 1\n",
             "biggan/report/tables.py": "T = 1\n"}
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)

    def digest() -> str:
        reuse._code_digest.cache_clear()
        return reuse._code_digest(tmp_path)

    before = digest()
    (tmp_path / "biggan/report/tables.py").write_text("T = 2\n")          # not imported by the train stage
    assert digest() == before
    for rel in ("biggan/losses.py", "stages/train.py"):                  # imported; the stage itself
        (tmp_path / rel).write_text((tmp_path / rel).read_text() + "# changed\n")
        assert digest() != before
        before = digest()
    reuse._code_digest.cache_clear()
