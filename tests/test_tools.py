"""The pinned tool stack imports, reports the locked versions, and its command-line tools start.

(Each tool is also exercised for real elsewhere: Ray Train in tests/train, DVC in
test_pipeline_dvc.py, MLflow's store and server and Prefect's flows in tests/pipelines.)
"""
import importlib.metadata as md
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

BIN = Path(sys.executable).parent


def locked() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", line)
        if m:
            pins[re.sub(r"\[.*\]", "", m.group(1)).lower().replace("_", "-")] = m.group(2)
    return pins


@pytest.mark.parametrize("dist", ["torch", "ray", "prefect", "dvc", "mlflow", "webdataset", "scikit-learn",
                                  "pydantic", "fastapi", "sqlalchemy", "scipy", "numpy"])
def test_installed_versions_are_the_locked_ones(dist):
    assert md.version(dist).split("+")[0] == locked()[dist]


def test_prefect_server_compatible_pins():
    # Prefect 3.8.8's server breaks with fastapi >= 0.151 (Body(min_items=...)) and its
    # scheduler with SQLAlchemy 2.1 ("Can't evaluate bulk DML statement")
    fastapi = tuple(int(x) for x in md.version("fastapi").split(".")[:2])
    sqlalchemy = tuple(int(x) for x in md.version("sqlalchemy").split(".")[:2])
    assert fastapi < (0, 151) and sqlalchemy < (2, 1)
    assert md.version("torch").startswith("2.13.0") and md.version("scipy") < "1.18"


def test_torchvision_is_not_installed():
    # PyPI's torchvision is a CUDA build that fails to import beside the CPU torch
    with pytest.raises(md.PackageNotFoundError):
        md.version("torchvision")


@pytest.mark.parametrize("cmd,expect", [
    (["dvc", "--version"], r"^3\.67\.1"),
    (["mlflow", "--version"], r"3\.17\.2"),
    (["prefect", "--version"], r"^3\.8\.8"),
    (["ray", "--version"], r"2\.60\.0"),
])
def test_command_line_tools_start(cmd, expect):
    out = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], capture_output=True, text=True, timeout=120, check=True)
    assert re.search(expect, out.stdout.strip(), re.M), out.stdout
