"""The import walker on a small project tree written here: which files a stage runs."""
import pytest

from biggan.codeset import stage_code


def _tree(root, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_every_kind_of_import_is_followed_and_only_files_that_run_count(tmp_path):
    _tree(tmp_path, {
        "stages/__init__.py": '"""Stages."""\n',
        "stages/go.py": ("import os\nimport tests.helper\nimport biggan.a.deep\nfrom biggan.b import sub, NAME\n"
                         "def main():\n    from biggan import late\n"),
        "biggan/__init__.py": '"""Docstring only: nothing runs."""\n',
        "biggan/a/__init__.py": "from .helper import X\n",              # a package that runs code
        "biggan/a/helper.py": "from ..c import Y\nX = Y\n",            # two levels up
        "biggan/a/deep.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import biggan.typing_only\n"
                            "else:\n    import biggan.runtime_only\n",
        "biggan/a/unused.py": "Z = 1\n",
        "biggan/b/__init__.py": "NAME = 'b'\n",
        "biggan/b/sub.py": "import numpy\n",
        "biggan/c.py": "Y = 2\n",
        "biggan/late.py": "L = 3\n",
        "biggan/typing_only.py": "T = 4\n",
        "biggan/runtime_only.py": "R = 5\n",
        "tests/helper.py": "import biggan.unused_elsewhere\n",   # not a project package
        "biggan/unused_elsewhere.py": "U = 6\n",
    })
    assert stage_code("stages/go.py", tmp_path) == [
        "biggan/a/__init__.py", "biggan/a/deep.py", "biggan/a/helper.py", "biggan/b/__init__.py",
        "biggan/b/sub.py", "biggan/c.py", "biggan/late.py", "biggan/runtime_only.py", "stages/go.py"]


def test_import_cycles_end_and_a_missing_entry_is_named(tmp_path):
    _tree(tmp_path, {"stages/s.py": "import biggan.x\n", "biggan/x.py": "import biggan.y\n",
                     "biggan/y.py": "from biggan import x\n"})
    assert stage_code("stages/s.py", tmp_path) == ["biggan/x.py", "biggan/y.py", "stages/s.py"]
    with pytest.raises(FileNotFoundError, match="stages/nope.py"):
        stage_code("stages/nope.py", tmp_path)


def test_an_import_of_a_module_the_project_lacks_is_named(tmp_path):
    _tree(tmp_path, {"stages/s.py": "def main():\n    from biggan.moved import f\n", "biggan/__init__.py": ""})
    with pytest.raises(ImportError, match=r"stages/s.py: line 2: imports biggan.moved"):
        stage_code("stages/s.py", tmp_path)
