import json
import subprocess
import sys

import yaml

from biggan.cli import main


def write_params(tmp_path, **model):
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump({
        "datasets": {"d": {"source": {"kind": "digits"}, "resolution": 16}},
        "model": {"resolution": 16, "ch": 4, "dim_z": 12, "n_classes": 10, "attention": [], **model},
        "train": {"batch_size": 8},
        "variants": {"plain": {"dataset": "d", "model": {"shared": False, "hier": False}},
                     "full": {"dataset": "d"}},
    }))
    return p


def test_summary_json(tmp_path, capsys):
    assert main(["summary", "--params", str(write_params(tmp_path)), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert set(rows) == {"(base)", "plain", "full"}
    assert rows["plain"]["shared_embedding"] == 0 and rows["full"]["shared_embedding"] == 10 * 128
    for r in rows.values():
        assert r["paper_params_m"] == round((r["g_params"] + r["d_params"] - r["shared_embedding"]) / 1e6, 2)


def test_summary_table_and_bad_params(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "biggan", "summary", "--params", str(write_params(tmp_path)),
                         "--variant", "full"], capture_output=True, text=True)
    assert ok.returncode == 0 and "full" in ok.stdout and "Param (M)" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "biggan", "summary", "--params",
                          str(write_params(tmp_path, resolution=20))], capture_output=True, text=True)
    assert bad.returncode == 2 and "model.resolution" in bad.stderr and "p.yaml" in bad.stderr
