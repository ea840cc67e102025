"""Issue 15.3: a sweep's Table 2 entries, its curve CSV and an IS-vs-FID plot land on the MLflow
run of the model it scored (a real SQLite store, a real sweep of the tiny generator)."""
import math

from biggan.config.evaluation import EvalConfig, SweepConfig
from biggan.metrics.refstats import reference_stats_path
from biggan.metrics.scorer import Scorer
from biggan.sampling.load import load_model_dir
from biggan.sampling.sweep import CSV_COLUMNS, csv_rows, run_sweep, summarize
from biggan.tracking.mlflow_run import open_run
from biggan.tracking.sweep_log import METRICS, log_sweep_to_run
from biggan.files import write_csv


def test_sweep_lands_on_the_models_run(tmp_path, model_dir, eval_root, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _, section = eval_root
    cfg = EvalConfig.model_validate(section)
    scorer = Scorer.from_config(cfg, reference_stats_path(cfg, "d16"))
    G, doc = load_model_dir(model_dir)
    rows = run_sweep(G, scorer, SweepConfig.model_validate({"thresholds": [1.0, 0.5], "num_samples": 100,
                                                            "standing_passes": 1}), batch_size=50, progress=False)
    summary = {**summarize(rows, valid_is=1.5), "model_iteration": 7}
    csv_path = write_csv(tmp_path / "s0.csv", csv_rows(rows), CSV_COLUMNS)

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_id, _ = open_run(uri, "sweep-test", "tiny-s0", {}, {})
    said = log_sweep_to_run("sqlite:///mlflow.db", tmp_path, {**doc, "mlflow_run_id": run_id}, "tiny-s0",
                            summary, csv_rows(rows), csv_path)
    assert said.startswith("logged to MLflow run")
    client = MlflowClient(uri)
    m = client.get_run(run_id).data.metrics
    assert m["sweep_fid_untruncated"] == summary["no_trunc"]["fid"]
    assert m["sweep_fid_min"] == summary["min_fid"]["fid"] and m["sweep_is_at_fid_min"] == summary["min_fid"]["is"]
    assert m["sweep_is_max"] == summary["max_is"]["is"]
    if summary["min_fid"]["threshold"] is not None:
        assert m["sweep_threshold_at_fid_min"] == summary["min_fid"]["threshold"]
    assert all(math.isfinite(v) for k, v in m.items() if k.startswith("sweep_"))
    assert {k for k in m if k.startswith("sweep_fid")} >= {v[0] for e, v in METRICS.items() if summary[e]}
    assert client.get_metric_history(run_id, "sweep_fid_min")[0].step == 7
    assert {a.path for a in client.list_artifacts(run_id, "sweep")} == {"sweep/s0.csv", "sweep/tiny-s0.png"}
    # an untracked model and an unreachable store are reported, not raised
    assert "no mlflow_run_id" in log_sweep_to_run(uri, tmp_path, doc, "x", summary, csv_rows(rows), csv_path)
    said = log_sweep_to_run("http://u:pw@127.0.0.1:1", tmp_path, {"mlflow_run_id": run_id}, "x", summary,
                            csv_rows(rows), csv_path)
    assert said.startswith("warning: sweep not logged") and "pw" not in said
