import pytest
import yaml

from biggan.config import ConfigError, load_params, parse_params

DIGITS = {"source": {"kind": "digits"}, "resolution": 32}
BASE = {
    "datasets": {"d32": DIGITS},
    "model": {"resolution": 32, "ch": 8, "n_classes": 10, "dim_z": 64, "attention": []},
    "train": {"batch_size": 16},
    "variants": {"a": {"dataset": "d32"}, "b": {"dataset": "d32", "model": {"ch": 16, "hier": False}}},
}


def problems(raw) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_params(raw, "p.yaml")
    return e.value.problems


def test_valid_params_resolve_variants():
    p = parse_params(BASE)
    assert p.run("a", 0).model.ch == 8
    b = p.run("b", 1)
    assert (b.model.ch, b.model.hier, b.seed, b.dataset.resolution) == (16, False, 1, 32)
    assert b.model.dim_z == 64 and b.train.batch_size == 16


def test_unknown_key_names_its_path():
    assert problems({**BASE, "model": {**BASE["model"], "chanels": 3}}) == ["model.chanels: unknown key"]


def test_negative_batch_rejected():
    (msg,) = problems({**BASE, "train": {"batch_size": -8}})
    assert msg.startswith("train.batch_size:") and "greater than 0" in msg


def test_resolution_without_architecture_lists_allowed():
    (msg,) = problems({**BASE, "model": {**BASE["model"], "resolution": 48}})
    assert msg.startswith("model.resolution:") and "[16, 32, 64, 128, 256, 512]" in msg


def test_dim_z_not_divisible_into_chunks():
    (msg,) = problems({**BASE, "model": {**BASE["model"], "dim_z": 30}})   # 32px: 3 blocks -> 4 chunks
    assert msg.startswith("model.dim_z:") and "4 chunks" in msg
    parse_params({**BASE, "model": {**BASE["model"], "dim_z": 30, "hier": False}})  # fine without skip-z


def test_variant_override_errors_carry_variant_path():
    raw = {**BASE, "variants": {"bad": {"dataset": "nope", "model": {"dim_z": 13, "init": "kaiming"}}}}
    got = problems(raw)
    assert any(m.startswith("variants.bad.dataset: unknown dataset 'nope'") for m in got)
    assert any(m.startswith("variants.bad.model.dim_z:") for m in got)
    assert any(m.startswith("variants.bad.model.init:") and "'ortho'" in m for m in got)


def test_literal_errors_list_allowed_values():
    (msg,) = problems({**BASE, "train": {"batch_size": 16, "precision": "fp8"}})
    assert msg.startswith("train.precision:") and "'fp32'" in msg and "'bf16'" in msg


def test_batch_must_split_over_workers():
    (msg,) = problems({**BASE, "train": {"batch_size": 10, "num_workers": 4}})
    assert msg.startswith("train.batch_size:") and "num_workers x accumulate = 4" in msg


def test_classes_must_match_dataset():
    got = problems({**BASE, "variants": {"a": {"dataset": "d32", "model": {"n_classes": 1000}}}})
    assert got == ["variants.a.model.n_classes: 1000, but dataset 'd32' has 10 classes"]


def test_load_params_names_the_file(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump({"model": {"resolution": 33}}))
    with pytest.raises(ConfigError) as e:
        load_params(f)
    assert str(f) in str(e.value) and "model.resolution" in str(e.value)
    with pytest.raises(ConfigError, match="file not found"):
        load_params(tmp_path / "missing.yaml")


def test_paper_row_must_exist():
    got = problems({**BASE, "variants": {"a": {"dataset": "d32", "paper_row": "t1:b4096"}}})
    assert len(got) == 1 and got[0].startswith("variants.a.paper_row: unknown published row 't1:b4096'")
    parse_params({**BASE, "variants": {"a": {"dataset": "d32", "paper_row": "t1:b2048_ch96_ortho"}}})


def test_the_readmes_experiment_overrides_apply_to_params_yaml(tmp_path):
    """Every `dvc exp run -S '...'` in README.md, applied to params.yaml by DVC's own override code,
    gives a valid params file (a key the file lacks needs Hydra's '+' prefix)."""
    import re
    from pathlib import Path

    from dvc.utils.hydra import apply_overrides

    root = Path(__file__).resolve().parents[2]
    overrides = re.findall(r"dvc exp run -S '([^']+)'", (root / "README.md").read_text())
    assert overrides, "README.md shows no `dvc exp run -S` example"
    for override in overrides:
        path = tmp_path / "params.yaml"
        path.write_text((root / "params.yaml").read_text())
        apply_overrides(str(path), [override])
        load_params(path)
