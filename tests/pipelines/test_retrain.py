"""The retrain flow on the tiny repo (after the shared reproduce run): first run promotes
(no champion), an unchanged repo does nothing, a changed dataset param retrains and decides.
Real DVC, MLflow registry (the repo's sqlite store) and Prefect (the session harness)."""
from __future__ import annotations

import json

import pytest
import yaml

from tests.pipelines.conftest import flow_artifacts

pytestmark = pytest.mark.slow


def _client(repo):
    from mlflow import MlflowClient

    uri = f"sqlite:///{repo}/mlflow.db"
    return MlflowClient(uri, registry_uri=uri)


def _aliases(client, name) -> dict[str, str]:
    return {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}


def test_retrain_promotes_then_idles_then_retrains_on_changed_data(reproduced):
    from pipelines.retrain import retrain, state_path

    repo = reproduced.repo
    name = "tiny-generator"
    train_doc = json.loads((repo / "metrics/train/full-s0.json").read_text())

    # 1. no fingerprint recorded yet: "changed"; the pipeline is up to date (nothing reruns);
    #    the Table 2 model (variant full) is registered and, with no champion, promoted
    s1 = retrain(repo=str(repo), fid="no_trunc", retry_delay_s=1.0, return_state=True)
    assert s1.is_completed(), s1.message
    print("stage seconds of the first reproduce:",
          {s["stage"]: s["seconds"] for s in reproduced.result["stages"]})
    r1 = s1.result()
    assert r1["changed"] and r1["changed_components"] == ["(no fingerprint recorded yet)"]
    assert {s["status"] for s in r1["stages"]} == {"skipped"}
    assert (r1["candidate"]["variant"], r1["candidate"]["seed"]) == ("full", 0)
    d1 = r1["decision"]
    assert d1["decision"] == "promoted" and d1["version"] == "1" and d1["champion_version"] is None
    assert d1["model_uri"] == train_doc["mlflow_model_uri"] and d1["run_id"] == train_doc["mlflow_run_id"]
    client = _client(repo)
    assert _aliases(client, name) == {"champion": "1"}
    v1 = client.get_model_version(name, "1")
    assert v1.tags["decision"] == "promoted" and v1.tags["decision.fid_kind"] == "no_trunc"
    sweep = json.loads((repo / "metrics/sweep/full-s0.json").read_text())
    assert float(v1.tags["fid.no_trunc"]) == pytest.approx(sweep["no_trunc"]["fid"])
    run_tags = client.get_run(train_doc["mlflow_run_id"]).data.tags
    assert run_tags["registry.decision"] == "promoted" and run_tags["registry.version"] == "1"
    art = flow_artifacts(str(s1.state_details.flow_run_id))["retrain-decision"]
    assert "**Decision: promoted**" in art and "no champion yet" in art
    from biggan.sampling.load import load_model_uri          # the consumer of the champion alias

    G = load_model_uri(f"models:/{name}@champion", tracking_uri=f"sqlite:///{repo}/mlflow.db")
    assert G.dim_z == 12
    state = json.loads(state_path(repo).read_text())
    assert state["fingerprint"] == r1["fingerprint"] and state["decision"]["version"] == "1"

    # 2. nothing changed: nothing happens (no pipeline, no new version)
    s2 = retrain(repo=str(repo), return_state=True)
    assert s2.is_completed(), s2.message
    r2 = s2.result()
    assert not r2["changed"] and r2["decision"] is None and r2["stages"] == []
    assert [str(v.version) for v in client.search_model_versions(f"name = '{name}'")] == ["1"]
    assert "Nothing to do" in flow_artifacts(str(s2.state_details.flow_run_id))["retrain-decision"]

    # 3. a changed dataset param (d16's upsampling filter): its shards, ref stats, the models
    #    (train stages depend on all of data/shards), sweeps and tables rerun, the multi-label
    #    shards do not; the new model is registered and compared with the champion
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["datasets"]["d16"]["source"]["upsample_filter"] = "bilinear"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    s3 = retrain(repo=str(repo), retry_delay_s=1.0, return_state=True)
    assert s3.is_completed(), s3.message
    r3 = s3.result()
    assert r3["changed"] and r3["changed_components"] == ["params.datasets"]
    ran = {s["stage"] for s in r3["stages"] if s["status"] != "skipped"}
    assert {"shard@d16-train", "shard@d16-val", "ref_stats@d16", "train@full-0", "sweep@full-0",
            "tables"} <= ran
    assert not ran & {"shard@ml16-train", "shard@ml16-val", "ref_stats@ml16", "feature_net"}
    d3 = r3["decision"]
    new_doc = json.loads((repo / "metrics/train/full-s0.json").read_text())
    assert d3["model_uri"] == new_doc["mlflow_model_uri"] != train_doc["mlflow_model_uri"]
    assert d3["version"] == "2" and d3["registered"] and d3["champion_version"] == "1"
    assert d3["decision"] in ("promoted", "kept_champion")
    promoted = d3["challenger_fid"] < d3["champion_fid"]
    assert d3["promoted"] == promoted
    v2 = client.get_model_version(name, "2")
    assert v2.tags["decision"] == d3["decision"]
    assert float(v2.tags["decision.champion_fid"]) == pytest.approx(d1["challenger_fid"])
    assert _aliases(client, name) == ({"champion": "2"} if promoted else {"champion": "1", "challenger": "2"})
    if promoted:
        assert client.get_model_version(name, "1").tags["superseded_by"] == "2"
    assert client.get_run(new_doc["mlflow_run_id"]).data.tags["registry.decision"] == d3["decision"]
    art = flow_artifacts(str(s3.state_details.flow_run_id))["retrain-decision"]
    assert f"**Decision: {d3['decision']}**" in art and "params.datasets" in art
