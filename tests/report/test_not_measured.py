"""A configuration with only a Table 2 row and no collapse study (a paper preset shrunk to one
variant): every claim it cannot test says 'not measured', none reads an empty group."""
from biggan.config import parse_params
from biggan.report import claims
from tests.report.test_claims import DIGITS, record

PARAMS = {
    "datasets": {"d16": DIGITS},
    "model": {"resolution": 16, "ch": 4, "dim_z": 12, "n_classes": 10, "shared_dim": 8, "attention": []},
    "train": {"iterations": 500, "batch_size": 16, "num_workers": 1, "launcher": "local"},
    "variants": {"t2": {"dataset": "d16", "tables": [2], "paper_row": "t2:biggan_128"}},
    "collapse_study": {},
}
NEEDS_TABLE1_OR_STUDY = {"batch", "width", "ortho", "collapse", "r1", "r1_cost", "clamp", "earlier"}


def test_claims_without_table1_rows_or_a_study_are_not_measured(tmp_path):
    params = parse_params(PARAMS)
    groups = {"t2": [record(params, "t2", 0, 50.0, tmp_path)]}
    by = {c["id"]: c for c in claims.claims(groups, {})}
    assert NEEDS_TABLE1_OR_STUDY <= set(by)
    for cid in NEEDS_TABLE1_OR_STUDY:
        assert by[cid]["verdict"] == "inconclusive" and by[cid]["measured"].startswith("not measured"), by[cid]
    assert by["earlier"]["measured"] == "not measured: no variant lists Table 1"
