"""The train stage's argument and input errors (exit status 2, messages naming the fix)."""
import pytest
import yaml

from biggan.config import ConfigError, parse_params
from stages.train import main
from tests.conftest import REPO_ROOT
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


def _specs(n: int, **train):
    from dataclasses import replace

    spec = parse_params(BASE).run("tiny", 0)
    spec = replace(spec, train=spec.train.model_copy(update=train))
    return [spec] * n


def test_runs_at_once_one_per_cpu_plus_one():
    from biggan.train.run import concurrent_runs

    cpus = lambda n: {"CPU": n}                                    # noqa: E731
    assert concurrent_runs(_specs(3), cpus(2.0)) == 3              # the third seed fills the core two would leave idle
    assert concurrent_runs(_specs(10), cpus(2.0)) == 3             # a study of 10 runs: one per core plus one, in turn
    assert concurrent_runs(_specs(1), cpus(2.0)) == 1 and concurrent_runs(_specs(2), cpus(0.5)) == 2
    assert concurrent_runs(_specs(4), cpus(0.5)) == 2
    assert concurrent_runs(_specs(10), cpus(2.0), jobs=4) == 4 and concurrent_runs(_specs(2), cpus(16.0), jobs=4) == 2


def test_runs_at_once_on_gpus_come_from_the_clusters_gpus():
    """A 128-CPU cluster with 8 GPUs runs 4 two-GPU runs at once, not 72 fractional-CPU ones."""
    from biggan.train.errors import InputError
    from biggan.train.run import concurrent_runs

    cluster = {"CPU": 128.0, "GPU": 8.0}
    assert concurrent_runs(_specs(72, use_gpu=True, num_workers=2), cluster) == 4
    assert concurrent_runs(_specs(72, use_gpu=True, num_workers=1), cluster) == 8
    assert concurrent_runs(_specs(72, use_gpu=True, num_workers=1), cluster, jobs=3) == 3
    assert concurrent_runs(_specs(2, use_gpu=True, num_workers=1), cluster) == 2
    with pytest.raises(InputError, match="needs 2 GPU.*has 1"):
        concurrent_runs(_specs(3, use_gpu=True, num_workers=2), {"CPU": 16.0, "GPU": 1.0})


def test_the_collapse_studys_longest_runs_start_first():
    from biggan.config import load_params
    from biggan.train.run import expected_cost

    runs = load_params(REPO_ROOT / "params.yaml").runs("collapse_study")
    first = sorted(runs, key=lambda r: -expected_cost(r))[:3]
    assert {r.variant for r in first} == {"cs_r1_10"}    # the whole 1,500 iterations with R1's double backward


def test_bad_jobs_and_an_empty_study_are_refused_before_any_work(repo, capsys):
    assert main(["--params", "params.yaml", "--variant", "tiny", "--jobs", "0"]) == 2
    assert "--jobs 0" in capsys.readouterr().err
    assert main(["--params", "params.yaml", "--study"]) == 2
    assert "collapse_study: is empty" in capsys.readouterr().err


def test_the_defaults_longest_run_starts_first_and_its_cheapest_last():
    """One pool for every run of the default: the study's 1,500-iteration R1 runs and the
    1,000-iteration full model must not start last and train alone; the smallest batches fill the end."""
    from biggan.config import load_params
    from biggan.train.run import expected_cost

    params = load_params(REPO_ROOT / "params.yaml")
    runs = sorted(params.runs() + params.runs("collapse_study"), key=lambda r: -expected_cost(r))
    assert runs[0].variant == "cs_r1_10" and runs[0].train.iterations == 1500
    assert max(i for i, r in enumerate(runs) if r.variant == "t1_b16_ch6_ortho") < len(runs) // 2
    assert runs[-1].variant == "t1_b4_ch4"


def test_all_trains_every_variant_and_the_study_into_their_own_folders(repo, capsys):
    from biggan.config import load_params
    from biggan.data.shard.build import build_shards
    from tests.train.specs import UNSTABLE

    raw = {**BASE, "train": {**BASE["train"], "iterations": 10, "checkpoint_every": 10, "sample_every": 10},
           "collapse_study": {"wild": {"dataset": "d16", **UNSTABLE}}}
    (repo / "params.yaml").write_text(yaml.safe_dump(raw))
    build_shards(load_params(repo / "params.yaml").datasets["d16"], "train", repo / "data/shards/d16/train",
                 name="d16", progress=False)
    assert main(["--params", "params.yaml", "--all", "--seed", "0", "--no-tracking"]) == 0
    assert (repo / "models/tiny/s0/G_ema.pt").is_file() and (repo / "models/collapse/wild/s0/G_ema.pt").is_file()
    assert (repo / "metrics/train/tiny/s0.json").is_file() and (repo / "metrics/collapse/wild/s0.json").is_file()
    assert (repo / "metrics/scores/train/tiny.json").is_file() and (repo / "metrics/scores/collapse/wild.json").is_file()
    assert not (repo / "metrics/train/wild").exists() and not (repo / "models/wild").exists()


def test_an_unreachable_object_store_is_named_before_any_work(repo, capsys, monkeypatch, free_port):
    raw = {**BASE, "storage": {"root": "s3://runs/grid"}, "tracking": {"uri": "http://127.0.0.1:9"}}
    (repo / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port}")      # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    assert main(["--variant", "tiny", "--seed", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"http://127.0.0.1:{free_port}" in err and "s3://runs/grid" in err and "is the object store running" in err
    assert not (repo / "metrics").exists() and not (repo / "checkpoints").exists()


def test_a_store_for_a_cluster_refuses_a_tracking_file_of_this_machine(repo, capsys, tmp_path):
    raw = {**BASE, "storage": {"root": str(tmp_path / "shared")}}
    (repo / "params.yaml").write_text(yaml.safe_dump(raw))
    assert main(["--variant", "tiny", "--seed", "0"]) == 2
    assert "does not exist (is the shared filesystem mounted" in capsys.readouterr().err
    (tmp_path / "shared").mkdir()
    assert main(["--variant", "tiny", "--seed", "0"]) == 2
    err = capsys.readouterr().err
    assert "tracking store sqlite:///" in err and "MLflow server" in err
    assert not (repo / "checkpoints").exists()


def test_storage_root_must_be_an_s3_uri_or_an_absolute_path():
    for bad, why in [("gs://b/x", "only s3://"), ("relative/dir", "must be absolute"), ("s3://B_ad/x", "bucket name")]:
        with pytest.raises(ConfigError, match=f"storage.root.*{why}"):
            parse_params({**BASE, "storage": {"root": bad}})
