"""The project's structure, drawn from its own imports: every arrow points down, no cycles.

Layers, bottom first (a part may import from the layers below it only, never from its own
layer's other parts or from above; inside one part anything goes):

    0  files, paper, codeset      writing files; the paper's tables and layouts; import walking
    1  config, storage            params.yaml, typed and validated; the storage root by URI
    2  models, data, losses, spectra
    3  ema, parallel, regularizers, metrics
    4  tracking, report           MLflow; tables, claims and figures from the stages' files
    5  sampling                   sheets and sweeps of a trained generator
    6  train                      one training run, on Ray Train or in-process
    7  cli                        the `biggan` commands (summary, sample, ui)
    8  __main__, stages           entry points: `python -m biggan`, DVC's stages
    9  pipelines                  Prefect flows around `dvc repro`

A part is a subpackage or top-level module of biggan/ (`biggan.train`, `biggan.files`), or
stages/ or pipelines/. Every import counts: at module level, inside functions (lazy) and under
`if TYPE_CHECKING:`. A new part must be placed in LAYERS before it is used.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("biggan", "stages", "pipelines")
LAYERS = [
    {"biggan.files", "biggan.paper", "biggan.codeset"},
    {"biggan.config", "biggan.storage"},
    {"biggan.models", "biggan.data", "biggan.losses", "biggan.spectra"},
    {"biggan.ema", "biggan.parallel", "biggan.regularizers", "biggan.metrics"},
    {"biggan.tracking", "biggan.report"},
    {"biggan.sampling"},
    {"biggan.train"},
    {"biggan.cli"},
    {"biggan.__main__", "stages"},
    {"pipelines"},
]
RANK = {part: i for i, layer in enumerate(LAYERS) for part in layer}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str, root: Path) -> bool:
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported(node: ast.AST, module: str, is_package: bool, root: Path) -> list[str]:
    """The project modules one import statement names (`from a import b`: a.b if b is a module, else a)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        package = module.split(".")[: None if is_package else -1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([base] if base else []))
    return [f"{base}.{a.name}" if is_module(f"{base}.{a.name}", root) else base for a in node.names]


def part(module: str) -> str:
    """biggan.train.run -> biggan.train; stages.train -> stages."""
    names = module.split(".")
    return ".".join(names[:2]) if names[0] == "biggan" else names[0]


def import_graph(root: Path) -> dict[tuple[str, str], list[str]]:
    """(importing part, imported part) -> the modules whose imports draw that arrow."""
    arrows: dict[tuple[str, str], list[str]] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = module_name(path, root)
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                for name in imported(node, module, path.name == "__init__.py", root):
                    if name.split(".")[0] not in PACKAGES or name == "biggan":      # biggan/__init__ is empty
                        continue
                    a, b = part(module), part(name)
                    if a != b:
                        arrows.setdefault((a, b), []).append(module)
    return arrows


def cycles(arrows) -> list[list[str]]:
    """Strongly connected parts of more than one (Tarjan)."""
    succ: dict[str, set[str]] = {}
    for a, b in arrows:
        succ.setdefault(a, set()).add(b)
        succ.setdefault(b, set())
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(succ[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                found.append(sorted(scc))

    for v in sorted(succ):
        if v not in index:
            visit(v)
    return found


def violations(arrows) -> list[str]:
    """Arrows that point sideways or up, or touch a part LAYERS does not place."""
    bad = []
    for (a, b), where in sorted(arrows.items()):
        if a not in RANK or b not in RANK:
            bad.append(f"{a} -> {b}: place {a if a not in RANK else b} in LAYERS ({sorted(set(where))[0]})")
        elif RANK[b] >= RANK[a]:
            bad.append(f"{a} (layer {RANK[a]}) -> {b} (layer {RANK[b]}) in {', '.join(sorted(set(where)))}")
    return bad


def test_parts_of_biggan_import_each_other_without_cycles():
    assert cycles({k: v for k, v in import_graph(ROOT).items() if k[0].startswith("biggan")}) == []


def test_every_import_points_down_the_layers():
    assert violations(import_graph(ROOT)) == []


def test_every_part_of_biggan_is_placed():
    parts = {part(module_name(p, ROOT)) for p in (ROOT / "biggan").rglob("*.py")} - {"biggan"}
    assert sorted(parts - set(RANK)) == []


def write(root: Path, rel: str, text: str = "") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize("lazy", [False, True])
def test_an_upward_import_is_found(tmp_path, lazy):
    """config importing the models (lazily too) is both an upward arrow and, with models
    importing config, a cycle."""
    write(tmp_path, "biggan/__init__.py")
    write(tmp_path, "biggan/config/__init__.py")
    write(tmp_path, "biggan/models/__init__.py")
    write(tmp_path, "biggan/models/build.py", "from biggan.config import model\n")
    write(tmp_path, "biggan/config/model.py",
          "def f():\n    from biggan.models.build import x\n" if lazy else "from ..models import build\n")
    arrows = import_graph(tmp_path)
    assert violations(arrows) == ["biggan.config (layer 1) -> biggan.models (layer 2) in biggan.config.model"]
    assert cycles(arrows) == [["biggan.config", "biggan.models"]]


def test_from_package_import_module_is_an_arrow_to_that_module(tmp_path):
    write(tmp_path, "biggan/__init__.py")
    write(tmp_path, "biggan/files.py")
    write(tmp_path, "biggan/data/__init__.py")
    write(tmp_path, "biggan/data/state.py", "from biggan import files\n")
    write(tmp_path, "stages/__init__.py")
    write(tmp_path, "stages/train.py", "import biggan.train.run\n")
    assert import_graph(tmp_path) == {("biggan.data", "biggan.files"): ["biggan.data.state"],
                                      ("stages", "biggan.train"): ["stages.train"]}
