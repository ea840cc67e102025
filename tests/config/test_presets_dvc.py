"""Every preset in configs/, with README's edits and nothing else, is a pipeline `dvc repro` runs.

README's YAML snippets (local paths; a subset) are merged onto each preset (tests/preset_edits.py):
the result validates, defines every param dvc.yaml declares for its stages, and DVC resolves
every stage and every stage's params in a temporary copy of the repo. The 128 px preset is run
for real, to the tables, by tests/test_presets_repro.py.
"""
from __future__ import annotations

import pytest
import yaml

from biggan.config import ConfigError, parse_params
from tests.pipeline_repo import REPO_ROOT, make_tiny_repo, run_dvc
from tests.preset_edits import PRESETS, readme_edits, readme_snippets

IMAGENET = [p for p in PRESETS if p.startswith("imagenet")]
CASES = [(p, False) for p in PRESETS] + [(p, True) for p in IMAGENET]
IDS = [f"{p}{'-subset' if sub else ''}" for p, sub in CASES]


def edited(name: str, subset: bool) -> dict:
    synsets = readme_snippets()[1]["datasets"]["imagenet128"]["source"]["synsets"] if subset else None
    return readme_edits(name, synsets=synsets)


def declared_params(raw: dict) -> list[str]:
    """Every param key of every stage of dvc.yaml, with the matrix's ${item.dataset} expanded."""
    stages = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text())["stages"]
    keys = []
    for stage in stages.values():
        for key in stage.get("params", []):
            key = next(iter(key)) if isinstance(key, dict) else key
            keys += [key.replace("${item.dataset}", d) for d in raw["datasets"]] if "${" in key else [key]
    return keys


def has_key(raw: dict, dotted: str) -> bool:
    node = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_readme_has_the_two_snippets():
    paths, subset = readme_snippets()
    assert set(paths) == {"datasets", "eval"} and set(subset) == {"datasets", "model"}
    synsets = subset["datasets"]["imagenet128"]["source"]["synsets"]
    assert subset["model"]["n_classes"] == len(synsets)


@pytest.mark.parametrize("name,subset", CASES, ids=IDS)
def test_readme_edits_validate_and_define_every_declared_param(name, subset):
    raw = edited(name, subset)
    params = parse_params(raw)
    if subset:
        (ds,) = params.datasets.values()
        assert params.model.n_classes == len(ds.source.synsets) == 4
    missing = [k for k in declared_params(raw) if not has_key(raw, k)]
    assert not missing, f"dvc.yaml declares params {name} does not define: {missing}"


def test_a_subset_with_the_full_class_count_fails_with_the_key():
    raw = edited("imagenet128", True)
    raw["model"]["n_classes"] = 1000
    with pytest.raises(ConfigError) as e:
        parse_params(raw)
    assert "variants.t1_b2048_ch96_ortho.model.n_classes: 1000, but dataset 'imagenet128' has 4 classes" in e.value.problems


def dvc_param_problems(repo) -> list[str]:
    """What DVC says when it records each stage's params in dvc.lock (after the stage ran):
    `ParamsDependency.get_hash` of every stage, the check `dvc repro` fails on. `repro --dry`
    and `status` cannot tell on a fresh repo: they stop at the first missing dep or say 'new'."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    problems = []
    with Repo(str(repo)) as dvc:
        for stage in dvc.index.stages:
            for dep in stage.deps:
                if isinstance(dep, ParamsDependency):
                    try:
                        dep.get_hash()
                    except Exception as e:          # MissingParamsError: the message dvc repro prints
                        problems.append(f"{stage.addressing}: {e}")
    return problems


@pytest.mark.slow
def test_dvc_resolves_every_stage_of_every_preset(tmp_path):
    repo = make_tiny_repo(tmp_path / "repo")
    for (name, subset), case in zip(CASES, IDS):
        raw = edited(name, subset)
        (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        stages = set(run_dvc(repo, "stage", "list", "--name-only").stdout.split())
        (dataset,) = raw["datasets"]
        assert stages == {"digits_manifest", f"shard@{dataset}", "feature_net", f"ref_stats@{dataset}",
                          "train", "sweep", "tables", "register"}, case
        assert dvc_param_problems(repo) == [], case
        assert run_dvc(repo, "status", check=False).returncode == 0, case
