"""The train stage's argument and input errors (exit status 2, messages naming the fix)."""
import pytest
import yaml

from biggan.config import ConfigError, parse_params
from stages.train import main
from tests.train.specs import BASE


@pytest.fixture
def repo(tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(BASE))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_unknown_variant(repo, capsys):
    assert main(["--variant", "nope", "--seed", "0"]) == 2
    assert "unknown variant 'nope'" in capsys.readouterr().err


def test_missing_shards_name_the_shard_stage(repo, capsys):
    assert main(["--variant", "tiny", "--seed", "0"]) == 2
    err = capsys.readouterr().err
    assert "data/shards/d16/train" in err and "stages.shard" in err


def test_missing_evaluation_inputs_name_their_stages(repo, capsys):
    raw = {**BASE, "train": {**BASE["train"], "evaluate": True}}
    (repo / "params.yaml").write_text(yaml.safe_dump(raw))
    (repo / "data/shards/d16/train").mkdir(parents=True)
    assert main(["--variant", "tiny", "--seed", "0"]) == 2
    err = capsys.readouterr().err
    assert "digits_net.pt" in err and "feature_net" in err and "ref_stats" in err
    assert not (repo / "metrics").exists() and not (repo / "checkpoints").exists()


def test_local_launcher_is_single_worker():
    with pytest.raises(ConfigError, match="launcher 'local' runs one in-process worker"):
        parse_params({**BASE, "train": {**BASE["train"], "num_workers": 2}})
