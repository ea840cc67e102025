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
              "collapse": {"warmup": 100, "sigma_factor": 2.0, "d_loss_jump": 3.0, "sigma_history": 4}},
    "seeds": [0, 1, 2],
    "variants": {
        "b4": {**ROW, "paper_row": "t1:b512", "train": {"batch_size": 4, "ortho": {"enabled": False}}},
        "b16": {**ROW, "paper_row": "t1:b2048"},
        "wide": {**ROW, "paper_row": "t1:b2048_ch96", "model": {"ch": 6, "shared": False, "hier": False}},
        "full": {"dataset": "d16", "tables": [1, 2], "paper_row": ["t1:b2048_ch96_ortho", "t2:biggan_128"]},
    },
    "collapse_study": {
        "base": {"dataset": "d16"},
        "r1": {"dataset": "d16", "train": {"r1_gamma": 10.0}},
        "clamp": {"dataset": "d16", "train": {"sigma_clamp": {"mode": "fixed", "value": 1.0}}},
    },
}


def sweep_rows(fid0: float, is0: float, interior: bool = True) -> list[dict]:
    """A falling-threshold sweep: IS rising; FID dipping at 1.0 (interior) or rising from the start."""
    dip = -3.0 if interior else 2.0
    return [{"threshold": None, "fid": fid0, "is_mean": is0}, {"threshold": 2.0, "fid": fid0 + dip, "is_mean": is0 + 0.2},
            {"threshold": 1.0, "fid": fid0 + dip / 2, "is_mean": is0 + 0.5},
            {"threshold": 0.5, "fid": fid0 + 20, "is_mean": is0 + 0.9}]


def record(params, variant: str, seed: int, fid: float, tmp: Path, section: str = "variants", **train) -> RunRecord:
    spec = params.run(variant, seed)
    rows = sweep_rows(fid, 5.0 + seed * 0.1)
    summary = {"no_trunc": {"fid": fid, "is": 5.0}, "min_fid": {"fid": fid - 3, "is": 5.2}}
    t = {"fid_best": fid, "is_at_fid_best": 5.0, "collapsed": False, "collapse_iteration": None, "stable_to": 500,
         "itr": 500, "iterations_done": 500, "params_m": 0.04, **train}
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


def test_truncation_claims_read_each_runs_curve(params, tmp_path):
    g = groups_with(params, tmp_path, {"full": [50, 52, 51]})
    by = {c["id"]: c for c in claims.claims(g, {})}
    assert by["truncation_is"]["verdict"] == "reproduced"
    assert by["truncation_fid"]["verdict"] == "reproduced"     # min at 2.0 on every run, gain 3 each
    for runs in g.values():
        for r in runs:
            r.sweep_rows[:] = sweep_rows(50, 5, interior=False)
    by = {c["id"]: c for c in claims.claims(g, {})}
    assert by["truncation_fid"]["verdict"] == "not reproduced"


def test_truncation_claims_leave_out_untrained_generators_and_name_them(params, tmp_path):
    g = groups_with(params, tmp_path, {"full": [50, 52, 51, 400]})
    for r in g["full"]:
        r.sweep["valid_is_real"] = 6.0                       # runs' IS 5.0: trained (>= 0.75 x 6)
    g["full"][3].sweep["no_trunc"]["is"] = 2.0               # an untrained one, its curve reversed
    g["full"][3].sweep_rows[:] = [{**p, "is_mean": 10 - p["is_mean"]} for p in sweep_rows(400, 5)]
    by = {c["id"]: c for c in claims.claims(g, {})}
    assert by["truncation_is"]["verdict"] == "reproduced"
    assert by["truncation_is"]["data"]["untrained"] == ["full s3 (IS 2 vs real 6)"]
    assert "full s3" in by["truncation_is"]["measured"] and len(by["truncation_is"]["data"]["runs"]) == 3
    g["full"][3].sweep["no_trunc"]["is"] = 5.0               # counted: its reversed curve spoils the claim
    by = {c["id"]: c for c in claims.claims(g, {})}
    assert by["truncation_is"]["verdict"] != "reproduced"


def write_history(rec: RunRecord, d_loss: list[tuple[int, float]], sigma: list[tuple[int, float]]) -> None:
    stem = rec.train_path.with_suffix("")
    write_csv(Path(f"{stem}.losses.csv"), [{"iteration": t, "d_loss": v} for t, v in d_loss], ["iteration", "d_loss"])
    write_csv(Path(f"{stem}.sigma0.csv"), [{"iteration": t, "G/linear": v, "D/linear": 1.0} for t, v in sigma],
              ["iteration"])


def collapsed_run(params, variant, seed, tmp, at=300):
    r = record(params, variant, seed, 200.0, tmp, section="collapse_study", collapsed=True, collapse_iteration=at,
               collapse_rule="d_loss_jump", stable_to=None, itr=at)
    write_history(r, [(t, 0.1 if t <= at else 2.0) for t in range(10, 501, 10)],
                  [(t, 1.5 if t <= at else 5.0) for t in range(0, 501, 25)])
    return r


def stable_run(params, variant, seed, tmp, fid=260.0):
    r = record(params, variant, seed, fid, tmp, section="collapse_study")
    write_history(r, [(t, 0.8) for t in range(10, 501, 10)], [(t, 1.4) for t in range(0, 501, 25)])
    return r


def test_collapse_signatures_and_the_study_claims(params, tmp_path):
    study = {"base": [collapsed_run(params, "base", s, tmp_path, 300 + 10 * s) for s in range(3)],
             "r1": [stable_run(params, "r1", s, tmp_path, 260.0 + s) for s in range(3)],
             "clamp": [collapsed_run(params, "clamp", s, tmp_path) for s in range(3)]}
    sig = signatures(study["base"][0])
    assert sig["sigma_before"] == pytest.approx(1.5) and sig["sigma_after"] == pytest.approx(5.0)
    assert sig["d_loss_before"] == pytest.approx(0.1) and sig["d_loss_after"] == pytest.approx(2.0)
    by = {c["id"]: c for c in claims.collapse_claims(study, {})}
    assert by["collapse"]["verdict"] == "reproduced"
    assert by["r1"]["verdict"] == "reproduced"            # every baseline seed collapses, no R1 seed does
    assert by["r1_cost"]["verdict"] == "reproduced"       # best FIDs 260-262 vs 200: every R1 seed worse
    assert by["clamp"]["verdict"] == "reproduced"
    t = study_table(study)
    assert [r["Collapsed"] for r in t.rows] == ["3/3", "0/3", "3/3"] and t.rows[0]["Rule(s)"] == "d_loss_jump"
    # the same collapses without G's spectra exploding on one seed: the claim no longer holds in full
    flat = [(t, 1.5) for t in range(0, 501, 25)]
    write_history(study["base"][0], [(t, 0.1 if t <= 300 else 2.0) for t in range(10, 501, 10)], flat)
    assert {c["id"]: c for c in claims.collapse_claims(study, {})}["collapse"]["verdict"] == "inconclusive"
    # ... nor on any seed, where every seed collapses: the paper's signature is refuted, not unseen
    for r in study["base"][1:]:
        write_history(r, [(t, 0.1 if t <= 300 else 2.0) for t in range(10, 501, 10)], flat)
    col = {c["id"]: c for c in claims.collapse_claims(study, {})}["collapse"]
    assert col["verdict"] == "not reproduced" and col["data"]["signature_shown"] == [False] * 3
    assert "collapsed 3/3" in col["measured"] and "both signs on 0/3" in col["measured"]


def test_r1_prevents_collapse_only_over_the_iterations_it_trained(params, tmp_path):
    """R1 runs shorter than the baseline's collapse prove nothing about it."""
    study = {"base": [collapsed_run(params, "base", s, tmp_path, 300 + 100 * s) for s in range(3)],
             "r1": [stable_run(params, "r1", s, tmp_path) for s in range(3)]}
    assert {c["id"]: c for c in claims.collapse_claims(study, {})}["r1"]["verdict"] == "reproduced"
    for r in study["r1"]:
        r.train["iterations_done"] = 450               # the baseline's seed 2 collapsed at 500
    r1 = {c["id"]: c for c in claims.collapse_claims(study, {})}["r1"]
    assert r1["verdict"] == "inconclusive" and "within 450 iterations" in r1["measured"]


@pytest.mark.parametrize("base,clamp,verdict", [
    (2, 2, "reproduced"),        # the clamp collapses as often as the baseline, which itself spares a seed
    (3, 3, "reproduced"),
    (3, 0, "not reproduced"),    # the clamp prevents it: 3/3 vs 0/3, Fisher p = 0.05
    (2, 1, "inconclusive"),
    (0, 0, "inconclusive"),      # nothing to prevent
])
def test_the_clamp_claim_is_judged_against_the_baseline(params, tmp_path, base, clamp, verdict):
    def runs(v, k):
        return [collapsed_run(params, v, s, tmp_path) if s < k else stable_run(params, v, s, tmp_path, 200.0)
                for s in range(3)]
    study = {"base": runs("base", base), "clamp": runs("clamp", clamp)}
    assert {c["id"]: c for c in claims.collapse_claims(study, {})}["clamp"]["verdict"] == verdict


def test_ortho_amenable_uses_fisher(params, tmp_path):
    g = groups_with(params, tmp_path, {"b16": [80, 85, 90], "full": [50, 52, 51]})
    for r in g["b16"]:
        r.sweep_rows[:] = sweep_rows(80, 5, interior=False)
    c = claims.ortho_claim(g)
    assert "3/3 models with ortho" in c["measured"] and "0/3 without" in c["measured"]
    assert c["data"]["p_more"] == pytest.approx(0.05) and c["verdict"] == "inconclusive"   # 1/20: not < 0.05


def test_d_loss_signature_uses_the_detectors_whole_rule():
    from biggan.config.train import CollapseConfig

    cfg = CollapseConfig(d_loss_jump=1.0, d_loss_margin=1.5, d_loss_level=1.8)
    assert claims.d_loss_jumped({"d_loss_before": 0.01, "d_loss_after": 2.0}, cfg)
    assert not claims.d_loss_jumped({"d_loss_before": 0.01, "d_loss_after": 1.2}, cfg)   # ratio alone: 120x
    assert not claims.d_loss_jumped({"d_loss_before": None, "d_loss_after": 2.0}, cfg)
