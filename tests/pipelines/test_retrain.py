"""The retrain flow on the tiny repo (after the shared reproduce run): first run promotes
(no champion), an unchanged repo does nothing, a changed dataset param (DVC: the d16 shard
stages are out of date) retrains and decides.
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


def _train_doc(repo) -> dict:
    from biggan.report.collect import run_file

    return json.loads(run_file(repo / "metrics" / "train", "full", 0).read_text())


def test_retrain_registers_then_idles_then_retrains_on_changed_data(reproduced):
    from pipelines.common import dvc_lock
    from pipelines.retrain import data_state, retrain, state_path

    repo = reproduced.repo
    name = "tiny-generator"
    client = _client(repo)
    train_doc = _train_doc(repo)
    try:                                   # the pipeline's own `register` stage may have run
        before = len(client.search_model_versions(f"name = '{name}'"))
    except Exception:
        before = 0

    # 1. no data state recorded yet: "changed"; the pipeline is up to date (nothing reruns);
    #    the Table 2 model (variant full) is registered and decided (promoted if no champion)
    s1 = retrain(repo=str(repo), fid="no_trunc", retry_delay_s=1.0, return_state=True)
    assert s1.is_completed(), s1.message
    print(f"first reproduce: {reproduced.result['seconds']} s in {reproduced.result['attempts']} attempts")
    r1 = s1.result()
    assert r1["changed"] and r1["changed_data"] == ["(no data state recorded yet)"]
    assert {s["status"] for s in r1["stages"]} == {"unchanged"}
    assert r1["candidate"]["label"] == "full-s0"
    d1 = r1["decision"]
    # a model the `register` stage already registered keeps its version (the registry is idempotent)
    assert int(d1["version"]) in (before, before + 1) and d1["run_id"] == train_doc["mlflow_run_id"]
    n1 = len(client.search_model_versions(f"name = '{name}'"))
    assert d1["model_uri"].startswith("models:/")
    if before == 0:
        assert d1["decision"] == "promoted" and d1["champion_version"] is None
    champion1 = _aliases(client, name)["champion"]
    v1 = client.get_model_version(name, d1["version"])
    assert v1.tags["decision"] == d1["decision"] and v1.tags["decision.fid_kind"] == "no_trunc"
    run_tags = client.get_run(train_doc["mlflow_run_id"]).data.tags
    assert run_tags["registry.decision"] == d1["decision"] and run_tags["registry.version"] == d1["version"]
    art = flow_artifacts(str(s1.state_details.flow_run_id))["retrain-decision"]
    assert f"**Decision: {d1['decision']}**" in art
    from biggan.sampling.load import load_model_uri          # the consumer of the champion alias

    G = load_model_uri(f"models:/{name}@champion", tracking_uri=f"sqlite:///{repo}/mlflow.db")
    assert G.dim_z == 12
    state = json.loads(state_path(repo).read_text())
    assert state["decision"]["version"] == d1["version"]
    assert set(state["lock"]) == {n for n in dvc_lock(repo) if n == "digits_manifest" or n.startswith("shard@")}

    # 2. nothing changed: nothing happens (no pipeline, no new version)
    s2 = retrain(repo=str(repo), return_state=True)
    assert s2.is_completed(), s2.message
    r2 = s2.result()
    assert not r2["changed"] and r2["decision"] is None and r2["stages"] == []
    assert len(client.search_model_versions(f"name = '{name}'")) == n1
    assert "Nothing to do" in flow_artifacts(str(s2.state_details.flow_run_id))["retrain-decision"]

    # 3. a changed dataset param (d16's upsampling filter): DVC lists its shard stages as out of
    #    date (not the multi-label ones); they, the d16 ref stats, the full model, its sweep and
    #    the tables rerun; the new model is registered and compared with the champion
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["datasets"]["d16"]["source"]["upsample_filter"] = "bilinear"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stale = set(data_state(repo)["out_of_date"])                      # DVC's verdict
    assert "shard@d16" in stale and "shard@ml16" not in stale
    s3 = retrain(repo=str(repo), retry_delay_s=1.0, return_state=True)
    assert s3.is_completed(), s3.message
    r3 = s3.result()
    assert r3["changed"] and {c.split(" ")[0] for c in r3["changed_data"]} == stale
    assert all("params.yaml" in c for c in r3["changed_data"])
    ran = {s["stage"] for s in r3["stages"] if s["status"] == "reproduced"}
    assert {"shard@d16", "ref_stats@d16", "train", "sweep", "tables"} <= ran
    assert "shard@ml16" not in ran
    d3 = r3["decision"]
    new_doc = _train_doc(repo)
    assert d3["run_id"] == new_doc["mlflow_run_id"] != train_doc["mlflow_run_id"]
    # the new model is version n1 + 1, whether the pipeline's `register` stage or this flow registered it
    assert d3["version"] == str(n1 + 1) and d3["champion_version"] in (champion1, d3["version"])
    assert d3["decision"] in ("promoted", "kept_champion", "already_champion")   # the register stage may have decided
    assert d3["promoted"] == (d3["challenger_fid"] < d3["champion_fid"])
    assert client.get_model_version(name, d3["version"]).tags["decision"] == d3["decision"]
    assert _aliases(client, name)["champion"] in (champion1, d3["version"])
    assert client.get_run(new_doc["mlflow_run_id"]).data.tags["registry.decision"] == d3["decision"]
    art = flow_artifacts(str(s3.state_details.flow_run_id))["retrain-decision"]
    assert f"**Decision: {d3['decision']}**" in art and "shard@d16" in art


def test_changed_data_is_dvc_status_then_the_recorded_lock_entries():
    from pipelines.retrain import changed_data, is_data

    assert [is_data(n) for n in ("digits_manifest", "shard@d16", "data/new.dvc", "train", "tables")] == \
        [True, True, True, False, False]
    lock = {"shard@d16": {"outs": [{"md5": "a"}]}}
    now = {"out_of_date": {}, "lock": lock}
    assert changed_data(None, now) == ["(no data state recorded yet)"]
    assert changed_data({"lock": lock}, now) == []
    # a manual `dvc repro` after new data: DVC is up to date, but dvc.lock differs from the record
    assert changed_data({"lock": {"shard@d16": {"outs": [{"md5": "b"}]}}}, now) == ["shard@d16 (dvc.lock)"]
    stale = {"out_of_date": {"shard@d16": [{"changed deps": {"params.yaml": "modified"}}]}, "lock": lock}
    assert [c.split(" ")[0] for c in changed_data({"lock": lock}, stale)] == ["shard@d16"]
