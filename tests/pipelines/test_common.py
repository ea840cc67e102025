"""What the flows share (pipelines.common): params read through biggan.config, DVC's status
through its Python API, named as `dvc status` names stages; the threads default. No Prefect."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.pipeline_repo import dvc_env, git

PARAMS = """\
datasets:
  d16: {source: {kind: digits}, resolution: 16}
model: {resolution: 16, ch: 4, n_classes: 10, attention: []}
seeds: [3, 4]
variants:
  a: {dataset: d16, tables: [1, 2]}
  b: {dataset: d16, tables: [3], seeds: [7]}
"""


def test_params_are_the_validated_configs_with_its_defaults(tmp_path):
    from biggan.config import ConfigError
    from pipelines.common import read_params, tracking_settings
    from pipelines.retrain import candidate_dirs

    (tmp_path / "params.yaml").write_text(PARAMS)
    params = read_params(tmp_path)
    assert [(s.variant, s.seed) for s in params.runs()] == [("a", 3), ("a", 4), ("b", 7)]
    assert tracking_settings(tmp_path)["uri"] == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert list(candidate_dirs(tmp_path)) == ["a-s3", "a-s4"]          # the Table 2 variant's seeds
    assert list(candidate_dirs(tmp_path, "b")) == ["b-s7"]
    # a second `seeds:` key: YAML would keep the last one; the stages' loader refuses it
    (tmp_path / "params.yaml").write_text(PARAMS + "seeds: [0]\n")
    with pytest.raises(ConfigError, match="seeds: duplicate key on line 8"):
        read_params(tmp_path)


def test_dvc_status_names_stages_as_the_command_does(tmp_path):
    from pipelines.common import dvc_lock, dvc_status

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "params.yaml").write_text("a: 1\n")
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "one": {"cmd": "echo hi > out.txt", "params": ["a"], "outs": ["out.txt"]},
        "two": {"foreach": ["x", "y"], "do": {"cmd": "cp out.txt ${item}.txt", "deps": ["out.txt"],
                                              "outs": ["${item}.txt"]}}}}))
    git(repo, "init", "-q")
    dvc = str(Path(sys.executable).parent / "dvc")
    subprocess.run([dvc, "init", "-q"], cwd=repo, env=dvc_env(), check=True)
    cwd = os.getcwd()
    assert set(dvc_status(repo)) == {"one", "two@x", "two@y"} and dvc_lock(repo) == {}
    assert list(dvc_status(repo, ["two@x"])) == ["two@x"]
    subprocess.run([dvc, "repro", "-q", "one"], cwd=repo, env=dvc_env(), check=True)
    assert list(dvc_lock(repo)) == ["one"]
    (repo / "params.yaml").write_text("a: 2\n")
    assert dvc_status(repo, ["one"]) == {"one": [{"changed deps": {"params.yaml": {"a": "modified"}}}]}
    with pytest.raises(RuntimeError, match="dvc status in .* failed: 'nope' does not exist"):
        dvc_status(repo, ["nope"])
    assert os.getcwd() == cwd


def test_threads_default_to_the_workers_whole_cpus():
    from biggan.config.train import TrainConfig

    assert TrainConfig().worker_threads(2.0) == 2 and TrainConfig().worker_threads(0.6667) == 1
    assert TrainConfig(threads_per_worker=3).worker_threads(0.5) == 3
