import csv
import json
import math
import shutil

import pytest
import torch

from biggan.config.evaluation import EvalConfig, SweepConfig
from biggan.metrics.refstats import reference_stats_path
from biggan.metrics.scorer import Scorer
from biggan.sampling.load import load_model_dir
from biggan.sampling.sweep import CSV_COLUMNS, ENTRIES, METRIC_KEYS, TIMING_KEYS, mean_rows, run_sweep, summarize, trained
from stages import sweep as sweep_stage
from tests.sampling.conftest import write_params

SUMMARY_KEYS = {"variant", "seed", "dataset", *ENTRIES, "valid_is_real", "bn_stats", "standing_passes",
                "standing_batch_size", "num_samples", "sweep_seeds", "trained", "trained_is_fraction", "thresholds", "feature_net", "pr_features", "model_dir",
                "model_iteration", "timing", "wall_s"}


@pytest.fixture(scope="module")
def scorer(eval_root):
    _, section = eval_root
    cfg = EvalConfig.model_validate(section)
    return Scorer.from_config(cfg, reference_stats_path(cfg, "d16"))


def sweep_cfg(**kw):
    return SweepConfig.model_validate({"thresholds": [2.0, 0.5, 0.0], "num_samples": 150, "standing_passes": 2,
                                       "seeds": [3], **kw})


def row(t, fid, is_mean):
    return {"threshold": t, "fid": fid, "is_mean": is_mean}


def metrics(rows):
    return [{k: r[k] for k in METRIC_KEYS} for r in rows]


def test_rows_for_every_threshold_and_g_left_untouched(model_dir, scorer):
    G, _ = load_model_dir(model_dir)
    before = {k: v.clone() for k, v in G.state_dict().items()}
    rows = run_sweep(G, scorer, sweep_cfg(), batch_size=64, progress=False)
    assert [r["threshold"] for r in rows] == [None, 2.0, 0.5, 0.0]
    assert [r["truncated"] for r in rows] == [False, True, True, True]
    for r in rows:
        assert set(METRIC_KEYS) | set(TIMING_KEYS) <= set(r) and r["n"] == 150
        assert all(math.isfinite(r[k]) for k in METRIC_KEYS) and r["is_mean"] >= 1.0 and r["fid"] >= 0
        assert all(r[k] >= 0 for k in TIMING_KEYS) and r["standing_s"] > 0
        assert r["wall_s"] >= r["generation_s"] + r["standing_s"]
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in before.items()) and not G.training
    # threshold 0: every sample of a class is the same image, so recall collapses against the untruncated point
    assert rows[-1]["recall"] < rows[0]["recall"] or rows[0]["recall"] == 0
    no_untrunc = run_sweep(G, scorer, sweep_cfg(untruncated=False, thresholds=[1.0]), progress=False)
    assert [r["threshold"] for r in no_untrunc] == [1.0]


def test_standing_and_running_statistics_differ_and_are_deterministic(model_dir, scorer):
    G, _ = load_model_dir(model_dir)
    cfg = sweep_cfg(thresholds=[1.0], untruncated=False)
    standing = metrics(run_sweep(G, scorer, cfg, batch_size=50, progress=False))
    assert standing == metrics(run_sweep(G, scorer, cfg, batch_size=50, progress=False))
    running_cfg = cfg.model_copy(update={"bn_stats": "running"})
    running = metrics(run_sweep(G, scorer, running_cfg, batch_size=50, progress=False))
    assert running == metrics(run_sweep(G, scorer, running_cfg, batch_size=50, progress=False))
    assert standing[0]["fid"] != running[0]["fid"] and standing[0]["is_mean"] != running[0]["is_mean"]
    other_seed = metrics(run_sweep(G, scorer, cfg, batch_size=50, progress=False, seed=4))
    assert other_seed[0]["fid"] != standing[0]["fid"]


def test_summary_picks_the_table2_entries():
    rows = [row(None, 30.0, 5.0), row(2.0, 25.0, 6.0), row(1.0, 20.0, 7.5), row(0.5, 24.0, 8.6),
            row(0.04, 60.0, 9.4)]
    s = summarize(rows, valid_is=8.4)
    assert s == {"no_trunc": {"threshold": None, "fid": 30.0, "is": 5.0},
                 "min_fid": {"threshold": 1.0, "fid": 20.0, "is": 7.5},
                 "valid_is": {"threshold": 0.5, "fid": 24.0, "is": 8.6},       # |8.6-8.4| < |7.5-8.4|
                 "max_is": {"threshold": 0.04, "fid": 60.0, "is": 9.4}}
    assert summarize(rows, valid_is=100.0)["valid_is"]["threshold"] == 0.04
    assert summarize(rows, valid_is=None)["valid_is"] is None
    # the untruncated point competes too; ties in |IS - valid| go to the lower FID; NaN points are skipped
    rows2 = [row(None, 10.0, 9.0), row(1.0, 12.0, 7.0), row(0.5, 11.0, 9.0), row(0.1, float("nan"), 50.0)]
    s2 = summarize(rows2, valid_is=8.0)
    assert s2["min_fid"]["threshold"] is None and s2["max_is"]["threshold"] is None
    assert s2["valid_is"]["threshold"] is None            # |9-8| == |7-8|: FID 10 beats 12
    s3 = summarize(rows2[1:], valid_is=8.0)
    assert s3["no_trunc"] is None and s3["valid_is"]["threshold"] == 0.5 and s3["max_is"]["threshold"] == 0.5


def test_sweep_seeds_average_per_threshold_and_only_trained_models_get_them_all():
    rows = [{"threshold": t, "sweep_seed": s, "fid": f + s, "is_mean": i - s, "precision": 1.0, "recall": 0.5}
            for s in (0, 1, 2) for t, f, i in ((None, 30.0, 8.0), (1.0, 40.0, 9.0))]
    m = mean_rows(rows)
    assert [(r["threshold"], r["seeds"], r["fid"], r["is_mean"], r["fid_sd"]) for r in m] == \
        [(None, 3, 31.0, 7.0, 1.0), (1.0, 3, 41.0, 8.0, 1.0)]
    assert trained(rows[:2], valid_is=8.5, fraction=0.75) is True         # IS 8 >= 0.75 x 8.5
    assert trained(rows[:2], valid_is=12.0, fraction=0.75) is False
    assert trained(rows[:2], valid_is=None, fraction=0.75) is None


def test_stage_end_to_end_and_errors(tmp_path, model_dir, eval_root, capsys):
    _, section = eval_root
    params = write_params(tmp_path / "params.yaml", section)
    out = tmp_path / "sweep"
    models = model_dir.parent.parent                    # <models>/tiny/s0
    assert sweep_stage.main(["--params", params, "--variant", "tiny", "--seed", "0", "--models", str(models),
                             "--out", str(out), "--scores", str(tmp_path / "scores"), "--no-progress",
                             "--threads", "1"]) == 0
    with open(out / "tiny" / "s0.csv") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == CSV_COLUMNS and len(table) == 3
    assert [r["threshold"] for r in table] == ["", "1.0", "0.5"]
    assert [r["truncated"] for r in table] == ["False", "True", "True"]
    assert {r["n"] for r in table} == {"200"}
    s = json.loads((out / "tiny" / "s0.json").read_text())
    assert set(s) == SUMMARY_KEYS and s["pr_features"] == s["feature_net"]      # eval.pr_features: scorer
    assert (s["variant"], s["seed"], s["dataset"], s["num_samples"], s["bn_stats"]) == ("tiny", 0, "d16", 200,
                                                                                         "standing")
    assert s["thresholds"] == [None, 1.0, 0.5] and [t["threshold"] for t in s["timing"]] == s["thresholds"]
    real = json.loads((reference_stats_path(EvalConfig.model_validate(section), "d16").parent
                       / "metrics.json").read_text())
    assert s["valid_is_real"] == real["val_is_mean"]
    assert s["no_trunc"] == {"threshold": None, "fid": float(table[0]["fid"]), "is": float(table[0]["is_mean"])}
    fids = {r["threshold"]: float(r["fid"]) for r in table}
    assert s["min_fid"]["fid"] == min(fids.values())
    assert "tiny-s0 min_fid" in capsys.readouterr().out
    scores = json.loads((tmp_path / "scores" / "sweep" / "tiny.json").read_text())
    assert scores == {"fid_none": round(s["no_trunc"]["fid"], 4), "is_none": round(s["no_trunc"]["is"], 4),
                      "fid_min": round(s["min_fid"]["fid"], 4), "is_max": round(s["max_is"]["is"], 4)}

    # missing model folder: names the weights file and the stage that makes it; no outputs
    missing = tmp_path / "nowhere"
    assert sweep_stage.main(["--params", params, "--variant", "tiny", "--seed", "0", "--models", str(missing),
                             "--out", str(tmp_path / "o2"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and str(missing / "tiny" / "s0" / "G_ema.pt") in err and "stages.train" in err
    assert not (tmp_path / "o2").exists()
    # missing reference statistics: names the file and the ref_stats stage
    assert sweep_stage.main(["--params", params, "--variant", "tiny", "--seed", "0", "--models", str(models),
                             "--refstats", str(tmp_path / "none"), "--out", str(tmp_path / "o3")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "none" / "d16" / "train_stats.npz") in err and "stages.ref_stats" in err
    # unknown variant
    assert sweep_stage.main(["--params", params, "--variant", "nope", "--seed", "0"]) == 2
    assert "unknown variant 'nope'" in capsys.readouterr().err


def test_all_variants_share_one_pool_and_a_failed_sweep_leaves_the_others(tmp_path, model_dir, eval_root, capfd):
    _, section = eval_root
    params = write_params(tmp_path / "params.yaml", section, sweep={"thresholds": [0.5], "num_samples": 100},
                          variants={"tiny": {"dataset": "d16"}, "gone": {"dataset": "d16"}})
    models = tmp_path / "models"
    shutil.copytree(model_dir, models / "tiny" / "s0")          # "gone" was never trained
    out, scores = tmp_path / "sweep", tmp_path / "scores"
    assert sweep_stage.main(["--params", params, "--all", "--seed", "0", "--models", str(models), "--out", str(out),
                             "--scores", str(scores), "--jobs", "2", "--no-progress"]) == 2
    captured = capfd.readouterr()                                # the pool's processes write to fd 2
    assert str(models / "gone" / "s0" / "G_ema.pt") in captured.err
    assert json.loads((out / "tiny" / "s0.json").read_text())["variant"] == "tiny"
    assert (scores / "sweep" / "tiny.json").is_file() and not (scores / "sweep" / "gone.json").exists()
    assert not (out / "gone").exists()
