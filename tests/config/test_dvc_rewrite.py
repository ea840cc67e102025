"""params.yaml and every preset survive `dvc exp run -S`, which rewrites the file in place.

DVC applies `-S` through `dvc.utils.hydra.apply_overrides`: the file is read with ruamel's round
trip, the overrides applied with Hydra, and the whole file dumped again (quotes dropped, long flow
mappings wrapped). That is the code run here, on a copy of each file, so a params file whose
rewrite cannot be read back, or whose values move, fails here instead of in a user's experiment.
Each case checks that the rewritten file loads and validates, and that its values equal the
original's with only the overridden key changed.
"""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from biggan.config import load_params, parse_params
from biggan.config.yamlfile import load_yaml

ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILES = [ROOT / "params.yaml", *sorted((ROOT / "configs").glob("*.yaml"))]
README_VARIANT = "t1_b16_ch6_ortho"       # the variant README's experiment commands vary


def cases(raw: dict) -> list[tuple[str, str | None, tuple[str, ...], object]]:
    """(id, `-S` argument or None for a plain rewrite, dotted key it sets, value it sets)."""
    variant = README_VARIANT if README_VARIANT in raw["variants"] else next(iter(raw["variants"]))
    out = [
        ("noop", None, (), None),
        ("top_level", "train.iterations=800", ("train", "iterations"), 800),
        # a value that needs quotes in YAML: ': ' inside, which DVC's dump must keep quoted
        ("variant_label", f"variants.{variant}.label='B=2, ch: 2'", ("variants", variant, "label"), "B=2, ch: 2"),
        ("new_key", f"+variants.{variant}.train.r1_gamma=1.0", ("variants", variant, "train", "r1_gamma"), 1.0),
    ]
    if "iterations" in raw["variants"][variant].get("train", {}):
        out.append(("variant_key", f"variants.{variant}.train.iterations=1500",
                    ("variants", variant, "train", "iterations"), 1500))
    for name, row in raw.get("collapse_study", {}).items():
        out.append(("collapse_row", f"collapse_study.{name}.train.optim.g_lr=0.1",
                    ("collapse_study", name, "train", "optim", "g_lr"), 0.1))
        break
    return out


def with_key(raw: dict, keys: tuple[str, ...], value: object) -> dict:
    expected = copy.deepcopy(raw)
    node = expected
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return expected


def rewrite(src: Path, dst: Path, override: str | None) -> None:
    """What `dvc exp run -S override` does to the params file before it runs anything."""
    from dvc.utils.hydra import apply_overrides

    shutil.copyfile(src, dst)
    apply_overrides(dst, [override] if override else [])


def dvc_reads(path: Path) -> dict:
    """The file as DVC reads params (ruamel's safe loader, libyaml's scanner where installed)."""
    from dvc.utils.serialize import load_yaml as dvc_load_yaml

    return dvc_load_yaml(path)


def check_rewrite(src: Path, work: Path) -> list[str]:
    """Every case of `cases` on a copy of `src`; returns the ids of the cases checked."""
    raw = load_yaml(src)
    assert dvc_reads(src) == raw
    done = []
    for case_id, override, keys, value in cases(raw):
        dst = work / f"{case_id}.yaml"
        rewrite(src, dst, override)
        expected = with_key(raw, keys, value) if keys else raw
        assert dvc_reads(dst) == expected, f"{src.name}, -S {override}: DVC reads other values back"
        assert load_yaml(dst) == expected, f"{src.name}, -S {override}: values differ after DVC's rewrite"
        assert load_params(dst).model_dump() == parse_params(expected, src).model_dump()
        done.append(case_id)
    return done


@pytest.mark.parametrize("path", PARAMS_FILES, ids=[p.name for p in PARAMS_FILES])
def test_dvc_set_param_rewrite_keeps_the_file_readable_and_its_values(path, tmp_path):
    done = check_rewrite(path, tmp_path)
    assert {"noop", "top_level", "variant_label", "new_key"} <= set(done)
    if path.name == "params.yaml":       # README's three commands, and a shared collapse-study key
        assert {"variant_key", "collapse_row"} <= set(done)


def test_readme_experiments_one_after_another_on_params_yaml(tmp_path):
    """A workspace experiment leaves its rewritten params.yaml behind: the next `-S` rewrites DVC's
    own output. README's three commands in a row keep every value but the ones they set."""
    src = ROOT / "params.yaml"
    expected = load_yaml(src)
    dst = tmp_path / "params.yaml"
    shutil.copyfile(src, dst)
    from dvc.utils.hydra import apply_overrides

    for override, keys, value in [
            ("train.iterations=800", ("train", "iterations"), 800),
            (f"variants.{README_VARIANT}.train.iterations=1500", ("variants", README_VARIANT, "train", "iterations"), 1500),
            (f"+variants.{README_VARIANT}.train.r1_gamma=1.0", ("variants", README_VARIANT, "train", "r1_gamma"), 1.0)]:
        apply_overrides(dst, [override])
        expected = with_key(expected, keys, value)
        assert dvc_reads(dst) == expected and load_yaml(dst) == expected, override
    assert load_params(dst).model_dump() == parse_params(expected, src).model_dump()
