"""The training loop in-process (launcher 'local', world size 1) with real MLflow on SQLite."""
import json
import math

import pytest
import torch

from biggan.models import build_generator
from biggan.train.checkpoint import read_state, write_state
from biggan.train.loop_env import LocalEnv
from biggan.train.job import TrainJob
from biggan.train.loop import Run
from biggan.train.outputs import write_stage_outputs
from biggan.train.history import Selection
from biggan.train.run import run_name, train
from tests.train.fakes import CrashOnce, DigitsStream, TinyScorer
from tests.train.specs import RES, UNSTABLE, tiny_spec


def uri_in(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_stable_run_tracks_everything_and_writes_the_stage_outputs(tmp_path):
    from mlflow import MlflowClient

    from biggan.sampling.load import load_model_uri

    spec = tiny_spec(uri=uri_in(tmp_path), train={"iterations": 40, "evaluate": True})
    out = train(spec, root=tmp_path, storage=tmp_path / "store", data=DigitsStream(RES, 16),
                scorer=TinyScorer(RES), stage="train@tiny-s0")
    s = out.summary
    assert not s["collapsed"] and s["stable_to"] == s["itr"] == s["iterations_done"] == 40
    assert [r["iteration"] for r in out.history.losses] == list(range(5, 41, 5))
    assert [r["iteration"] for r in out.history.sigma0] == [0, 10, 20, 30, 40]
    assert [r["iteration"] for r in out.history.evals] == [20, 40]
    fids = {r["iteration"]: r["fid"] for r in out.history.evals}
    assert s["fid_best"] == min(fids.values()) and s["model_selection"] == "best_fid"
    assert s["model_iteration"] == s["fid_best_iteration"] == min(fids, key=fids.get)
    assert s["params_m"] == pytest.approx((s["g_params"] + s["d_params"] - 10 * 8) / 1e6, abs=1e-4)
    assert s["images_per_s"] > 0 and s["resumes"] == []

    client = MlflowClient(uri_in(tmp_path))
    (run,) = client.search_runs([client.get_experiment_by_name("biggan").experiment_id])
    assert run.info.run_id == s["mlflow_run_id"] and run.info.status == "FINISHED"
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert (tags["variant"], tags["seed"], tags["dataset"], tags["dvc_stage"]) == ("tiny", "0", "d16", "train@tiny-s0")
    assert tags["git_commit"] and tags["ray_run_name"] == run_name(spec) and tags["mlflow.runName"] == "tiny-s0"
    assert params["train.optim.g_lr"] == "0.0002" and params["model.ch"] == "4" and params["dataset.resolution"] == "16"
    assert metrics["fid_best"] == pytest.approx(s["fid_best"]) and metrics["stable_to"] == 40
    assert metrics["collapsed"] == 0 and "collapse_iteration" not in metrics
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "g_loss")]
    assert sorted(steps) == list(range(5, 41, 5))
    assert [m.step for m in client.get_metric_history(run.info.run_id, "fid")] == [20, 40]
    for key in ("d_acc_train", "d_acc_val"):         # D's accuracy beside the scores
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [20, 40]
        assert all(0 <= r[key] <= 1 for r in out.history.evals)
    assert {m.step for m in client.get_metric_history(run.info.run_id, "sigma/G/linear/s0")} == {0, 10, 20, 30, 40}
    assert "sigma/D/embed/s2" in metrics and "sigma/D/linear/s0" in metrics and "images_per_s" in metrics
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "history")}
    assert {"history/tiny-s0.losses.csv", "history/tiny-s0.sigma0.csv", "history/tiny-s0.json"} <= arts
    assert any(a.path == "images" for a in client.list_artifacts(run.info.run_id))
    (model,) = client.search_logged_models([run.info.experiment_id])
    G = load_model_uri(f"models:/{model.model_id}", uri_in(tmp_path))
    z, y = torch.randn(3, 12), torch.tensor([0, 1, 2])
    ref = build_generator(spec.model).eval()
    ref.load_state_dict(out.g_ema_state)
    assert torch.allclose(G.eval()(z, y), ref(z, y))

    paths = write_stage_outputs(out, tmp_path / "models/tiny/s0", tmp_path / "metrics/train")
    on_disk = json.loads(paths["metrics"].read_text())
    assert on_disk["fid_best"] == s["fid_best"] and on_disk["stable_to"] == 40
    doc = json.loads(paths["model"].read_text())
    G2 = build_generator(type(spec.model).model_validate(doc["model"]))
    G2.load_state_dict(torch.load(paths["weights"], weights_only=True))
    assert doc["iteration"] == s["model_iteration"]
    head = paths["losses"].read_text().splitlines()[0].split(",")
    assert head[:5] == ["iteration", "d_loss", "d_loss_real", "d_loss_fake", "g_loss"] and "images_per_s" in head
    sig = paths["sigma0"].read_text().splitlines()
    assert sig[0].startswith("iteration,G/linear") and "D/linear" in sig[0] and len(sig) == 6
    assert paths["evals"].read_text().splitlines()[0].endswith(",d_acc_train,d_acc_val")


def test_unstable_config_is_flagged_and_the_last_healthy_checkpoint_is_handed_out(tmp_path):
    spec = tiny_spec(model=UNSTABLE["model"], train={"iterations": 60, **UNSTABLE["train"]})
    out = train(spec, root=tmp_path, storage=tmp_path / "store", data=DigitsStream(RES, 16), tracking=False)
    s = out.summary
    assert s["collapsed"] and s["collapse_rule"] in ("sigma", "nonfinite_loss", "nonfinite_sigma") and s["stable_to"] is None
    assert s["itr"] == s["collapse_iteration"] < 60
    assert s["iterations_done"] < 60                                 # stopped early (collapse.stop)
    assert s["model_selection"] == "last_healthy_checkpoint" and s["model_iteration"] < s["collapse_iteration"]
    assert all(torch.isfinite(v).all() for v in out.g_ema_state.values() if v.is_floating_point())


def test_stable_config_is_not_flagged_with_the_same_checks(tmp_path):
    spec = tiny_spec(train={"iterations": 60, "sv_every": 5})
    out = train(spec, root=tmp_path, storage=tmp_path / "store", data=DigitsStream(RES, 16), tracking=False)
    assert not out.summary["collapsed"] and out.summary["stable_to"] == 60
    assert out.summary["model_selection"] == "final" and out.summary["model_iteration"] == 60


def test_kill_then_rerun_resumes_the_same_run_and_changed_config_starts_fresh(tmp_path):
    from mlflow import MlflowClient

    spec = tiny_spec(uri=uri_in(tmp_path), train={"iterations": 30})
    crash = CrashOnce(DigitsStream(RES, 16), str(tmp_path / "crashed"), after=17)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(spec, root=tmp_path, storage=tmp_path / "store", data=crash, tracking=True)
    client = MlflowClient(uri_in(tmp_path))
    (failed,) = client.search_runs([client.get_experiment_by_name("biggan").experiment_id])
    assert failed.info.status == "FAILED"
    out = train(spec, root=tmp_path, storage=tmp_path / "store", data=crash)
    assert out.summary["resumes"] == [10] and out.summary["iterations_done"] == 30
    assert [r["iteration"] for r in out.history.losses] == list(range(5, 31, 5))
    (run,) = client.search_runs([failed.info.experiment_id])
    assert run.info.run_id == failed.info.run_id and run.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "g_loss")]
    assert sorted(steps) == list(range(5, 31, 5))                    # 15 was logged before the crash, once

    changed = tiny_spec(uri=uri_in(tmp_path), train={"iterations": 30, "num_d_steps": 2})
    assert run_name(changed) != run_name(spec)
    assert run_name(tiny_spec(uri=uri_in(tmp_path), train={"iterations": 30, "max_failures": 5})) == run_name(spec)
    fresh = train(changed, root=tmp_path, storage=tmp_path / "store", data=DigitsStream(RES, 16))
    assert fresh.summary["resumes"] == [] and fresh.mlflow_run_id != run.info.run_id
    again = train(spec, root=tmp_path, storage=tmp_path / "store", data=DigitsStream(RES, 16))
    assert again.mlflow_run_id == run.info.run_id and again.summary == out.summary   # completed: reused


def test_checkpoint_state_round_trips_with_weights_only(tmp_path):
    spec = tiny_spec(train={"iterations": 10, "checkpoint_every": 5})
    job = TrainJob("tiny", 0, spec.model, spec.train, DigitsStream(RES, 16), threads=1)
    from biggan.train.loop import run_loop

    run_loop(job, LocalEnv(tmp_path / "run", keep=2))
    store = LocalEnv(tmp_path / "run").store
    assert [(i, r) for i, r, _ in store.list()] == [(5, 0), (10, 0)]
    state = read_state(store.latest())
    fresh = Run(job, LocalEnv(tmp_path / "other"))
    fresh.load_state_dict(state)
    again = fresh.state_dict(state["rng"])
    write_state(tmp_path, again)
    reread = read_state(tmp_path)
    for k in ("G", "D", "G_ema"):
        assert all(torch.equal(reread[k][n], state[k][n]) for n in state[k])
    assert reread["opt_g"]["state"].keys() == state["opt_g"]["state"].keys()
    assert reread["history"] == state["history"] and reread["resumes"] == [10]


def test_selection_prefers_best_fid_then_last_healthy_then_final():
    w = {"w": torch.zeros(2)}
    s = Selection()
    assert s.choose(False, 100, w)[:2] == ("final", 100)
    s.observe_checkpoint(50, {"w": torch.ones(2)})
    how, it, state = s.choose(True, 100, w)
    assert (how, it) == ("last_healthy_checkpoint", 50) and state["w"][0] == 1
    s.observe_eval(60, {"fid": 30.0, "is_mean": 2.0}, {"w": torch.full((2,), 6.0)})
    s.observe_eval(70, {"fid": 40.0, "is_mean": 3.0}, {"w": torch.full((2,), 7.0)})
    s.observe_eval(80, {"fid": math.nan, "is_mean": 1.0}, {"w": torch.full((2,), 8.0)})
    how, it, state = s.choose(True, 100, w)
    assert (how, it, state["w"][0].item()) == ("best_fid", 60, 6.0)
    assert s.scores() == {"fid_best": 30.0, "fid_best_iteration": 60, "is_at_fid_best": 2.0, "is_best": 3.0,
                          "is_best_iteration": 70}


def test_a_collapsed_run_stops_stop_after_iterations_past_the_detection():
    from types import SimpleNamespace

    from biggan.config.train import CollapseConfig
    from biggan.train.collapse import Collapse
    from biggan.train.loop import _stop_wanted

    def wanted(rule: str, iteration: int, **cfg) -> bool:
        run = SimpleNamespace(monitor=SimpleNamespace(collapse=Collapse(300, 310, rule, "")), iteration=iteration,
                              cfg=SimpleNamespace(collapse=CollapseConfig(**cfg)))
        return _stop_wanted(run)

    assert wanted("d_loss_jump", 310, stop=True)                       # stop_after 0: at the detection
    assert not wanted("d_loss_jump", 409, stop=True, stop_after=100)   # the aftermath is still recorded
    assert wanted("d_loss_jump", 410, stop=True, stop_after=100)
    assert not wanted("d_loss_jump", 10_000, stop=False, stop_after=100)
    assert wanted("nonfinite_loss", 310, stop=False, stop_after=100)   # nothing left to train
