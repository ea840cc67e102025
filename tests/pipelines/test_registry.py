"""Promotion policy of biggan.tracking.registry against a real MLflow registry (sqlite in tmp):
a first model becomes champion, a worse one stays challenger, a better one is promoted, a model
already registered is not registered twice; every decision is recorded as tags."""
from __future__ import annotations

import json
import math

import pytest
import torch

from biggan.tracking import registry as reg
from biggan.tracking.mlflow_run import global_tracking_uri

NAME = "gen"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A sqlite store with 4 runs, each with a small logged pytorch model and a fid_best metric."""
    import mlflow
    import mlflow.pytorch

    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root}/mlflow.db"
    runs = {}
    with global_tracking_uri(uri):
        # artifacts beside the store, not under the working directory's ./mlruns
        exp_id = mlflow.create_experiment("registry-test", artifact_location=(root / "mlruns").as_uri())
        for i, fid in enumerate([10.0, 12.0, 8.0, float("nan")]):
            with mlflow.start_run(experiment_id=exp_id, run_name=f"r{i}") as run:
                mlflow.log_metric("fid_best", fid)
                info = mlflow.pytorch.log_model(torch.nn.Linear(2, 2), name="G_ema", serialization_format="pickle",
                                                pip_requirements=["torch==2.13.0"])
            runs[i] = {"run_id": run.info.run_id, "model_uri": info.model_uri, "fid": fid}
    return uri, runs


def _aliases(client) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()}


def test_compare_policy():
    assert reg.compare(5.0, None, False, "no_trunc")[:2] == (True, "promoted")
    assert reg.compare(None, None, False, "no_trunc")[:2] == (False, "kept_champion")
    assert reg.compare(5.0, 6.0, True, "no_trunc")[:2] == (True, "promoted")
    assert reg.compare(6.0, 6.0, True, "no_trunc")[:2] == (False, "kept_champion")       # a tie keeps
    assert reg.compare(5.9, 6.0, True, "no_trunc", min_improvement=0.5)[0] is False
    promote, decision, reason = reg.compare(5.0, None, True, "min_fid")
    assert not promote and "champion has no min_fid FID" in reason
    with pytest.raises(ValueError, match="unknown FID kind"):
        reg.check_kind("fid")


def test_run_fids_from_stage_summaries(tmp_path):
    train, sweep = tmp_path / "t.json", tmp_path / "s.json"
    train.write_text(json.dumps({"fid_best": 7.5}))
    sweep.write_text(json.dumps({"no_trunc": {"threshold": None, "fid": 7.3, "is": 1.0},
                                 "min_fid": {"threshold": 0.5, "fid": 6.8, "is": 1.0}}))
    assert reg.run_fids(train, sweep) == {"no_trunc": 7.3, "min_fid": 6.8, "fid_best": 7.5}
    assert reg.run_fids({"fid_best": float("nan")}, tmp_path / "missing.json") == \
        {"no_trunc": None, "min_fid": None, "fid_best": None}


def test_promotion_sequence(store):
    from mlflow import MlflowClient

    uri, runs = store
    client = MlflowClient(uri, registry_uri=uri)

    def decide(i, **kw):
        r = runs[i]
        fids = {"fid_best": None if math.isnan(r["fid"]) else r["fid"], "no_trunc": r["fid"] + 1}
        return reg.promote_if_better(uri, NAME, r["model_uri"], fids, fid_kind="fid_best", tags={"i": i}, **kw)

    d1 = decide(0)                                   # no champion: promoted
    assert (d1.version, d1.decision, d1.promoted, d1.champion_version, d1.registered) == \
        ("1", "promoted", True, None, True)
    assert _aliases(client) == {"champion": "1"}

    d2 = decide(1)                                   # worse: stays challenger
    assert (d2.version, d2.decision, d2.promoted, d2.champion_version) == ("2", "kept_champion", False, "1")
    assert (d2.challenger_fid, d2.champion_fid) == (12.0, 10.0)
    assert _aliases(client) == {"champion": "1", "challenger": "2"}
    v2 = client.get_model_version(NAME, "2")
    assert v2.tags["decision"] == "kept_champion" and v2.tags["decision.champion_version"] == "1"
    assert float(v2.tags["decision.challenger_fid"]) == 12.0 and float(v2.tags["decision.champion_fid"]) == 10.0
    assert v2.tags["fid.fid_best"] == "12.0" and v2.tags["fid.no_trunc"] == "13.0" and v2.tags["i"] == "1"
    run_tags = client.get_run(runs[1]["run_id"]).data.tags
    assert run_tags["registry.decision"] == "kept_champion" and run_tags["registry.version"] == "2"
    assert run_tags["registry.champion_fid"] == "10.0" and "not below" in run_tags["registry.reason"]

    d3 = decide(2)                                   # better: promoted, challenger alias cleared
    assert (d3.version, d3.decision, d3.promoted, d3.champion_version) == ("3", "promoted", True, "1")
    assert _aliases(client) == {"champion": "3"}
    assert client.get_model_version(NAME, "1").tags["superseded_by"] == "3"
    assert client.get_run(runs[2]["run_id"]).data.tags["registry.decision"] == "promoted"
    assert client.get_model_version_by_alias(NAME, "champion").run_id == runs[2]["run_id"]

    d3b = decide(2)                                  # the same model again: no new version
    assert (d3b.version, d3b.decision, d3b.registered, d3b.promoted) == ("3", "already_champion", False, False)
    assert len(client.search_model_versions(f"name = '{NAME}'")) == 3

    d4 = decide(3)                                   # no finite FID: never promoted
    assert (d4.decision, d4.promoted, d4.challenger_fid) == ("kept_champion", False, None)
    assert _aliases(client) == {"champion": "3", "challenger": "4"}

    # another FID kind: the champion's tag fid.no_trunc (9.0) against the challenger's 13.0
    d5 = reg.promote_if_better(uri, NAME, runs[1]["model_uri"], {"no_trunc": 13.0}, fid_kind="no_trunc")
    assert (d5.version, d5.registered, d5.decision, d5.champion_fid) == ("2", False, "kept_champion", 9.0)


def test_register_stage_makes_the_best_default_model_champion(tmp_path, monkeypatch):
    """Issue 15.4: after the main job the registry has a champion: the Table 2 variant's seed with
    the lowest untruncated sweep FID (read from its MLflow run), registered from the LoggedModel
    its train stage logged; rerunning keeps it (already champion)."""
    import yaml
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from biggan.models import build_generator
    from biggan.config.model import ModelConfig
    from biggan.sampling.load import load_model_uri
    from biggan.tracking.mlflow_run import log_generator, open_run
    from biggan.files import write_json, write_torch
    from stages.register import main
    from tests.pipeline_repo import tiny_params

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    params = {**tiny_params(), "seeds": [0, 1, 2]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    model = ModelConfig.model_validate(params["model"])
    for seed, fid in [(0, 30.0), (1, 20.0), (2, None)]:          # seed 2: trained untracked
        d = tmp_path / "models" / "full" / f"s{seed}"
        torch.manual_seed(seed)
        write_torch(d / "G_ema.pt", build_generator(model).state_dict())
        run_id = None
        if fid is not None:
            run_id, _ = open_run(uri, "tiny", f"full-s{seed}", {}, {})
            client.log_batch(run_id, metrics=[Metric("sweep_fid_untruncated", fid, 0, 20),
                                              Metric("fid_best", 100.0 - fid, 0, 20)])
        write_json(d / "model.json", {"model": params["model"], "variant": "full", "seed": seed,
                                      "mlflow_run_id": run_id})
        if run_id:
            log_generator(uri, run_id, d, "G_ema", step=20)
    assert main([]) == 0
    doc = json.loads((tmp_path / "metrics/registry.json").read_text())
    assert doc["candidate"] == "full-s1" and doc["decision"] == "promoted" and doc["challenger_fid"] == 20.0
    champ = client.get_model_version_by_alias("tiny-generator", "champion")
    assert str(champ.version) == doc["version"] and champ.run_id == doc["run_id"]
    G = load_model_uri("models:/tiny-generator@champion", uri)
    ref = build_generator(model).eval()
    torch.manual_seed(1)
    ref.load_state_dict(build_generator(model).state_dict())
    z, y = torch.randn(2, model.dim_z), torch.tensor([0, 1])
    assert torch.equal(G(z, y), ref(z, y))
    assert main([]) == 0
    assert json.loads((tmp_path / "metrics/registry.json").read_text())["decision"] == "already_champion"
    # another FID kind picks another seed; it must beat the champion under that kind
    assert main(["--fid", "fid_best"]) == 0
    assert json.loads((tmp_path / "metrics/registry.json").read_text())["candidate"] == "full-s0"
