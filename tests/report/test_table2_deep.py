"""Table 2 puts a BigGAN-deep variant beside the paper's BigGAN-deep row, and BigGAN beside BigGAN."""
from biggan.config import parse_params
from biggan.paper.tables import PAPER_ROWS
from biggan.report.tables import table2
from tests.report.test_claims import PARAMS, record

DEEP = {"dataset": "d16", "tables": [2], "paper_row": "t2:biggan_deep_128", "label": "BigGAN-deep",
        "model": {"arch": "biggan_deep", "hier": False}}


def test_deep_rows_sit_beside_the_papers_deep_rows(tmp_path):
    params = parse_params({**PARAMS, "variants": {**PARAMS["variants"], "deep": DEEP}})
    groups = {v: [record(params, v, s, 40.0 + s, tmp_path) for s in range(3)] for v in ("full", "deep")}
    t = table2(groups, {})
    rows = {r["Model"]: r for r in t.rows}
    assert rows["BigGAN-deep"]["Paper: model"] == "BigGAN-deep 128"
    assert rows["BigGAN-deep"]["Paper: No truncation"] == "5.7 / 124.5"
    assert rows["BigGAN-deep"]["Paper: Min FID"] == "6.3 / 148.1"
    assert rows["full"]["Paper: model"] == "BigGAN 128" and rows["full"]["Paper: No truncation"] == "8.7 / 98.8"
    docs = {d["variant"]: d for d in t.data}
    assert docs["deep"]["paper_row"] == "t2:biggan_deep_128" and docs["deep"]["paper"]["arch"] == "biggan_deep"


def test_published_deep_rows():
    got = {k: (v["res"], v["no_trunc"], v["min_fid"], v["valid_is"], v["max_is"])
           for k, v in PAPER_ROWS.items() if k.startswith("t2:biggan_deep_")}
    assert got == {"t2:biggan_deep_128": (128, (5.7, 124.5), (6.3, 148.1), (7.4, 166.5), (25, 253)),
                   "t2:biggan_deep_256": (256, (6.9, 171.4), (7.0, 202.6), (8.1, 232.5), (27, 317)),
                   "t2:biggan_deep_512": (512, (7.5, 152.8), (7.7, 181.4), (11.5, 241.5), (39.7, 298))}
