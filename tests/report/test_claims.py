"""Claims and the collapse study from synthetic run files: verdicts follow the stated tests."""
import json
from pathlib import Path

import pytest

from biggan.config import parse_params
from biggan.report import claims
from biggan.report.collapse_study import signatures, study_table
from biggan.report.collect import RunRecord
from biggan.files import write_csv

DIGITS = {"source": {"kind": "digits"}, "resolution": 16}
ROW = {"dataset": "d16", "model": {"shared": False, "hier": False}, "train": {"ortho": {"enabled": False}}}
PARAMS = {
    "datasets": {"d16": DIGITS},
    "model": {"resolution": 16, "ch": 4, "dim_z": 12, "n_classes": 10, "shared_dim": 8, "attention": []},
    "train": {"iterations": 500, "batch_size": 16, "num_workers": 1, "launcher": "local",
              "collapse": {"warmup": 100, "sigma_factor": 2.0, "d_loss_jump": 3.0, "sigma_history": 4,
                           "learned_fid": 50.0}},
    "seeds": [0, 1, 2],
    "variants": {
        "b4": {**ROW, "paper_row": "t1:b512", "train": {"batch_size": 4, "ortho": {"enabled": False}}},
        "b16": {**ROW, "paper_row": "t1:b2048"},
        "wide": {**ROW, "paper_row": "t1:b2048_ch96", "model": {"ch": 6, "shared": False, "hier": False}},
        "full": {"dataset": "d16", "tables": [1, 2], "paper_row": ["t1:b2048_ch96_ortho", "t2:biggan_128"]},
        "full_r1": {"dataset": "d16", "tables": [], "train": {"r1_gamma": 10.0}},
    },
    "collapse_study": {
        "base": {"dataset": "d16"},
        "r1": {"dataset": "d16", "train": {"r1_gamma": 10.0}},
        "clamp": {"dataset": "d16", "train": {"sigma_clamp": {"mode": "fixed", "value": 1.0}}},
        "overfit": {"dataset": "d16", "model": {"ch": 2}},
    },
}


def sweep_rows(fid0: float, is0: float, interior: bool = True, seeds=(0, 1, 2), noise: float = 0.1) -> list[dict]:
    """A falling-threshold sweep per sweep seed: IS rising; FID dipping at 1.0 (interior) or rising
    from the start; the seeds differ by `noise` x seed."""
    dip = -3.0 if interior else 2.0
    rows = []
    for s in seeds:
        e = noise * (s - 1)                  # grows along the curve: paired differences spread too
        rows += [{"threshold": None, "sweep_seed": s, "fid": fid0, "is_mean": is0},
                 {"threshold": 2.0, "sweep_seed": s, "fid": fid0 + dip + e, "is_mean": is0 + 0.2 - e / 10},
                 {"threshold": 1.0, "sweep_seed": s, "fid": fid0 + dip / 2 + 2 * e, "is_mean": is0 + 0.5 - e / 5},
                 {"threshold": 0.5, "sweep_seed": s, "fid": fid0 + 20 + 3 * e, "is_mean": is0 + 0.9 - e}]
    return rows


def record(params, variant: str, seed: int, fid: float, tmp: Path, section: str = "variants", is_: float = 5.0,
           **train) -> RunRecord:
    spec = params.run(variant, seed)
    rows = sweep_rows(fid, is_ + seed * 0.1)
    summary = {"no_trunc": {"fid": fid, "is": is_}, "min_fid": {"fid": fid - 3, "is": is_ + 0.2}, "trained": True,
               "valid_is_real": 6.0, "trained_is_fraction": 0.75}
    t = {"fid_best": fid, "is_at_fid_best": 5.0, "collapsed": False, "collapse_iteration": None, "stable_to": 500,
         "itr": 500, "iterations_done": 500, "params_m": 0.04, "outcome": "stable", **train}
    path = tmp / variant / f"s{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(t))
    return RunRecord(spec, t, summary if section == "variants" else {}, rows if section == "variants" else [],
                     path, None)


@pytest.fixture
def params():
    return parse_params(PARAMS)


def groups_with(params, tmp_path, fids: dict[str, list[float]]):
    return {v: [record(params, v, s, f, tmp_path) for s, f in enumerate(fs)] for v, fs in fids.items()}


def test_batch_and_width_reproduced_when_the_gap_exceeds_the_spread(params, tmp_path):
    g = groups_with(params, tmp_path, {"b4": [150, 160, 155], "b16": [80, 85, 90], "wide": [45, 47, 44],
                                       "full": [50, 52, 51]})
    by = {c["id"]: c for c in claims.claims(g, {})}
    assert by["batch"]["verdict"] == "reproduced" and "Mann-Whitney" in by["batch"]["test"]
    assert by["width"]["verdict"] == "reproduced"


def test_a_gap_inside_the_spread_is_inconclusive_and_a_reversed_one_not_reproduced(params, tmp_path):
    g = groups_with(params, tmp_path, {"b4": [50, 140, 100], "b16": [60, 62, 58], "wide": [95, 99, 97],
                                       "full": [50, 52, 51]})
    by = {c["id"]: c for c in claims.claims(g, {})}
    assert by["batch"]["verdict"] == "inconclusive"
    assert by["width"]["verdict"] == "not reproduced"          # every wide seed is worse than every narrow one


def test_a_failed_seed_in_the_worse_group_keeps_the_batch_verdict(params, tmp_path):
    # the AMD EPYC run: one B=4 seed collapsed early (sweep FID 392); mean minus mean is within 2 SE, the order is not
    g = groups_with(params, tmp_path, {"b4": [148.7, 392.3, 163.0], "b16": [65.4, 91.4, 114.7],
                                       "wide": [47.8, 52.3, 52.9], "full": [50, 52, 51]})
    by = {c["id"]: c for c in claims.claims(g, {})}
    assert by["batch"]["verdict"] == "reproduced" and by["batch"]["data"]["p_greater"] == pytest.approx(0.05)
    assert "2 SE" in by["batch"]["measured"]


def test_truncation_claims_read_each_models_curve_against_its_sweep_seeds(params, tmp_path):
    g = groups_with(params, tmp_path, {"full": [50, 52, 51]})
    by = {c["id"]: c for c in claims.claims(g, {})}
    assert by["truncation_is"]["verdict"] == "reproduced"
    assert by["truncation_fid"]["verdict"] == "reproduced"     # min at 2.0 on every model, 3 below none
    for r in g["full"]:
        r.sweep_rows[:] = sweep_rows(50, 5, interior=False)
    by = {c["id"]: c for c in claims.claims(g, {})}
    assert by["truncation_fid"]["verdict"] == "not reproduced"  # no threshold improves on none
    # the same curves, the sweep seeds spread far wider than the dip: nothing can be told
    for r in g["full"]:
        r.sweep_rows[:] = sweep_rows(50, 5, noise=20.0)
    by = {c["id"]: c for c in claims.claims(g, {})}
    assert by["truncation_fid"]["verdict"] == "inconclusive" and by["truncation_is"]["verdict"] == "inconclusive"


def test_one_sweep_seed_cannot_show_a_truncation_gain(params, tmp_path):
    """The old logic judged each curve's shape alone: one sweep seed's shape is not evidence."""
    g = groups_with(params, tmp_path, {"full": [50, 52, 51]})
    for r in g["full"]:
        r.sweep_rows[:] = sweep_rows(50, 5, seeds=(0,))
    by = {c["id"]: c for c in claims.claims(g, {})}
    assert by["truncation_is"]["verdict"] == "inconclusive" and by["truncation_fid"]["verdict"] == "inconclusive"


def test_truncation_claims_judge_trained_models_only_and_name_the_others(params, tmp_path):
    g = groups_with(params, tmp_path, {"full": [50, 52, 51, 400], "b16": [80, 85, 90]})
    for r in g["b16"] + [g["full"][3]]:
        r.sweep["trained"] = False                           # untrained: their reversed curves do not count
        r.sweep_rows[:] = [{**p, "is_mean": 10 - p["is_mean"]} for p in sweep_rows(400, 5)]
    by = {c["id"]: c for c in claims.claims(g, {})}
    assert by["truncation_is"]["verdict"] == "reproduced"
    assert len(by["truncation_is"]["data"]["untrained"]) == 4 and "full s3" in by["truncation_is"]["measured"]
    assert len(by["truncation_is"]["data"]["runs"]) == 3
    g["full"][3].sweep["trained"] = True                     # counted: its falling IS spoils the claim
    by = {c["id"]: c for c in claims.claims(g, {})}
    assert by["truncation_is"]["verdict"] != "reproduced" and by["truncation_is"]["data"]["lowers_is"]


def test_ortho_needs_trained_models_with_and_without_it_at_equal_iterations(params, tmp_path):
    g = groups_with(params, tmp_path, {"b16": [80, 85, 90], "full": [50, 52, 51]})
    for r in g["b16"]:
        r.sweep_rows[:] = sweep_rows(80, 5, interior=False)
    c = claims.ortho_claim(g)
    assert c["verdict"] == "inconclusive" and "3/3 with, 0/3 without" in c["measured"]
    assert c["data"]["p_more"] == pytest.approx(0.05)          # 1/20: not < 0.05
    for r in g["b16"]:
        r.sweep["trained"] = False                             # the old logic counted untrained models
    c = claims.ortho_claim(g)
    assert c["verdict"] == "inconclusive" and "needs trained models" in c["measured"]


def test_r1_cost_compares_the_twin_without_r1(params, tmp_path):
    g = groups_with(params, tmp_path, {"full": [30, 31, 32], "full_r1": [40, 42, 41]})
    for r in g["full_r1"]:
        r.sweep["no_trunc"]["is"] = 4.0
    c = claims.r1_cost_claim(g)
    assert c["verdict"] == "reproduced" and c["data"]["twin"] == "full"
    for r in g["full_r1"]:
        r.sweep["no_trunc"]["fid"] -= 20.0                      # R1 better on FID: refuted
    assert claims.r1_cost_claim(g)["verdict"] == "not reproduced"
    assert claims.r1_cost_claim({"full_r1": g["full_r1"]})["verdict"] == "inconclusive"


def write_history(rec: RunRecord, d_loss: list[tuple[int, float]], sigma: list[tuple[int, float]],
                  acc: tuple[float, float] | None = None) -> None:
    stem = rec.train_path.with_suffix("")
    write_csv(Path(f"{stem}.losses.csv"), [{"iteration": t, "d_loss": v} for t, v in d_loss], ["iteration", "d_loss"])
    write_csv(Path(f"{stem}.sigma0.csv"), [{"iteration": t, "G/linear": v, "G/blocks.0.0.bn1.gain": 9.0 * (t > 100),
                                            "D/linear": 1.0} for t, v in sigma], ["iteration"])
    if acc:
        write_csv(Path(f"{stem}.evals.csv"), [{"iteration": t, "fid": 40.0, "d_acc_train": acc[0], "d_acc_val": acc[1]}
                                              for t in range(100, 501, 100)], ["iteration"])


def collapsed_run(params, variant, seed, tmp, at=300, kind="sudden", acc=(0.99, 0.5)):
    r = record(params, variant, seed, 30.0, tmp, section="collapse_study", collapsed=True, collapse_iteration=at,
               collapse_detected_at=at, collapse_rule="d_loss_jump", collapse_kind=kind, stable_to=None, itr=at,
               outcome="collapse")
    write_history(r, [(t, 0.1 if t <= at else 2.0) for t in range(10, 501, 10)],
                  [(t, 1.5 if t <= at else 5.0) for t in range(0, 501, 25)], acc)
    return r


def stable_run(params, variant, seed, tmp, fid=40.0, outcome="stable"):
    r = record(params, variant, seed, fid, tmp, section="collapse_study", outcome=outcome)
    write_history(r, [(t, 0.8) for t in range(10, 501, 10)], [(t, 1.4) for t in range(0, 501, 25)], (0.8, 0.7))
    return r


def test_collapse_signatures_and_the_study_claims(params, tmp_path):
    study = {"base": [collapsed_run(params, "base", s, tmp_path, 300 + 10 * s) for s in range(3)],
             "r1": [stable_run(params, "r1", s, tmp_path, 40.0 + s) for s in range(3)],
             "clamp": [collapsed_run(params, "clamp", s, tmp_path) for s in range(3)]}
    sig = signatures(study["base"][0])
    # BatchNorm's gain table (9.0 from iteration 125) is not a weight the statistic watches
    assert sig["sigma_before"] == pytest.approx(1.5) and sig["sigma_after"] == pytest.approx(5.0)
    assert sig["d_loss_before"] == pytest.approx(0.1) and sig["d_loss_after"] == pytest.approx(2.0)
    assert (sig["d_acc_train"], sig["d_acc_val"]) == (0.99, 0.5)
    by = {c["id"]: c for c in claims.collapse_claims(study, {})}
    assert by["collapse"]["verdict"] == "reproduced" and "3 sudden" in by["collapse"]["measured"]
    assert by["d_overfit"]["verdict"] == "reproduced"
    assert by["r1"]["verdict"] == "reproduced"            # every baseline seed collapses, no R1 seed does
    assert by["clamp"]["verdict"] == "reproduced"
    t = study_table(study)
    assert [r["Outcome"] for r in t.rows] == ["collapse (sudden) 3/3", "stable 3/3", "collapse (sudden) 3/3"]
    # the same collapses without G's spectra exploding on one seed: the claim no longer holds in full
    flat = [(t, 1.5) for t in range(0, 501, 25)]
    write_history(study["base"][0], [(t, 0.1 if t <= 300 else 2.0) for t in range(10, 501, 10)], flat)
    assert {c["id"]: c for c in claims.collapse_claims(study, {})}["collapse"]["verdict"] == "inconclusive"
    for r in study["base"][1:]:
        write_history(r, [(t, 0.1 if t <= 300 else 2.0) for t in range(10, 501, 10)], flat)
    col = {c["id"]: c for c in claims.collapse_claims(study, {})}["collapse"]
    assert col["verdict"] == "not reproduced" and col["data"]["signature_shown"] == [False] * 3


def test_gradual_collapses_without_an_overfit_d_are_not_the_papers_kind(params, tmp_path):
    study = {"base": [collapsed_run(params, "base", s, tmp_path, kind="gradual", acc=(1.0, 0.95)) for s in range(3)],
             "overfit": [stable_run(params, "overfit", s, tmp_path, 300.0, "failed to train") for s in range(3)]}
    c = {c["id"]: c for c in claims.collapse_claims(study, {})}["d_overfit"]
    assert c["verdict"] == "not reproduced" and "3 gradual" not in c["measured"]
    assert "overfit (s0: failed to train" in c["measured"]
    assert study_table(study).rows[1]["Role"] == "alternative baseline"


def test_a_baseline_seed_that_never_learned_is_not_a_collapse(params, tmp_path):
    """The old logic counted every run a rule stopped: here seed 2 stopped before it learned."""
    study = {"base": [collapsed_run(params, "base", s, tmp_path) for s in range(2)]
             + [stable_run(params, "base", 2, tmp_path, 130.0, "failed to train")],
             "r1": [stable_run(params, "r1", s, tmp_path) for s in range(3)]}
    study["base"][2].train.update(collapsed=False, collapse_rule=None)
    by = {c["id"]: c for c in claims.collapse_claims(study, {})}
    assert by["r1"]["verdict"] == "inconclusive" and "s2: failed to train" in by["r1"]["measured"]
    assert by["collapse"]["verdict"] == "inconclusive"


def test_r1_runs_must_learn_and_outlast_every_baseline_detection(params, tmp_path):
    study = {"base": [collapsed_run(params, "base", s, tmp_path, 300 + 100 * s) for s in range(3)],
             "r1": [stable_run(params, "r1", s, tmp_path) for s in range(3)]}
    assert {c["id"]: c for c in claims.collapse_claims(study, {})}["r1"]["verdict"] == "reproduced"
    study["base"][2].train["collapse_detected_at"] = 600          # onset 500, detected 600: past the horizon
    r1 = {c["id"]: c for c in claims.collapse_claims(study, {})}["r1"]
    assert r1["verdict"] == "inconclusive" and "trained to 500" in r1["measured"]
    study["base"][2].train["collapse_detected_at"] = 500
    for r in study["r1"]:
        r.train["outcome"] = "failed to train"                   # stable, but never learned: no evidence
    assert {c["id"]: c for c in claims.collapse_claims(study, {})}["r1"]["verdict"] == "inconclusive"


@pytest.mark.parametrize("base,clamp,verdict", [
    (2, 2, "reproduced"),        # the clamp collapses as often as the baseline, which itself spares a seed
    (3, 3, "reproduced"),
    (3, 0, "not reproduced"),    # the clamp prevents it: 3/3 vs 0/3, Fisher p = 0.05
    (2, 1, "inconclusive"),
    (0, 0, "inconclusive"),      # nothing to prevent
])
def test_the_clamp_claim_is_judged_against_the_baseline(params, tmp_path, base, clamp, verdict):
    def runs(v, k):
        return [collapsed_run(params, v, s, tmp_path) if s < k else stable_run(params, v, s, tmp_path)
                for s in range(3)]
    study = {"base": runs("base", base), "clamp": runs("clamp", clamp)}
    assert {c["id"]: c for c in claims.collapse_claims(study, {})}["clamp"]["verdict"] == verdict


def test_clamped_generators_that_never_learned_prove_nothing(params, tmp_path):
    """The committed study's clamped runs (best FID 298-435) were 'collapses' under the old logic."""
    study = {"base": [collapsed_run(params, "base", s, tmp_path) for s in range(3)],
             "clamp": [stable_run(params, "clamp", s, tmp_path, 300.0 + s, "failed to train") for s in range(3)]}
    c = {c["id"]: c for c in claims.collapse_claims(study, {})}["clamp"]
    assert c["verdict"] == "inconclusive" and "0 learned" in c["measured"]


def test_d_loss_signature_uses_the_detectors_whole_rule():
    from biggan.config.train import CollapseConfig
    from biggan.report.collapse_claims import d_loss_jumped

    cfg = CollapseConfig(d_loss_jump=1.0, d_loss_margin=1.5, d_loss_level=1.8)
    assert d_loss_jumped({"d_loss_before": 0.01, "d_loss_after": 2.0}, cfg)
    assert not d_loss_jumped({"d_loss_before": 0.01, "d_loss_after": 1.2}, cfg)   # ratio alone: 120x
    assert not d_loss_jumped({"d_loss_before": None, "d_loss_after": 2.0}, cfg)
