"""dvc.yaml's code deps of every stage match what the stage runs: every project file its entry
module imports (biggan.codeset) is under one of its deps under biggan/ or stages/, and every such
dep holds at least one of them. A missing dep lets DVC skip a stage whose code changed; a stale
one reruns it for nothing. Data and params deps are not checked here."""
import re
from pathlib import Path

import pytest
import yaml

from biggan import codeset
from biggan.train import reuse

ROOT = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _entry(stage: dict) -> str:
    m = re.search(r"-m (stages\.\w+)", stage["cmd"])
    assert m, f"dvc.yaml: cmd {stage['cmd']!r} runs no `-m stages.<name>` module"
    return m.group(1).replace(".", "/") + ".py"


def _under(path: str, dep: str) -> bool:
    return path == dep or path.startswith(dep.rstrip("/") + "/")


@pytest.mark.parametrize("name", sorted(STAGES))
def test_a_stages_code_deps_are_what_it_imports(name):
    stage = STAGES[name]
    deps = [d for d in stage.get("deps", []) if d.split("/")[0] in codeset.PACKAGES]
    runs = codeset.stage_code(_entry(stage), ROOT)
    missing = [f for f in runs if not any(_under(f, d) for d in deps)]
    stale = [d for d in deps if not any(_under(f, d) for f in runs)]
    assert not missing and not stale, (
        f"dvc.yaml: stages.{name}.deps: add {missing or 'nothing'} (or their folders); remove {stale or 'nothing'}")


def test_reuse_fingerprints_the_train_stages_code():
    assert _entry(STAGES["train"]) == reuse.TRAIN_STAGE
