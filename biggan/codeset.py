"""The project's source files a module runs: its own file and every project module it imports,
transitively (read with `ast`, nothing is imported). It is the one definition of "a stage's code":
dvc.yaml's code deps of each stage must cover exactly this set of its entry module
(tests/test_dvc_deps.py), and the train stage's reuse fingerprint hashes it (biggan.train.reuse).

Counted: `import a.b.c` (a, a.b and a.b.c: importing a submodule runs its packages' __init__),
`from a.b import c` (a.b, and a.b.c when c is a submodule), relative imports, and imports inside
functions, wherever they sit. Left out: imports under `if TYPE_CHECKING:` (never run), modules
outside the project packages, and modules that hold nothing but a docstring (nothing in them runs).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGES = ("biggan", "stages")
ROOT = Path(__file__).resolve().parents[1]


def stage_code(entry: str | Path, root: Path = ROOT) -> list[str]:
    """The files (posix paths relative to `root`, sorted) that running `entry` (a path relative to
    `root`, e.g. "stages/train.py") executes from the project's packages."""
    path = root / entry
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such module to walk")
    found: set[Path] = set()
    todo = [path]
    while todo:
        f = todo.pop()
        if f in found:
            continue
        found.add(f)
        todo += [m for m in _imported(f, root) if m not in found]
    return sorted(p.relative_to(root).as_posix() for p in found if p == path or _runs_code(p))


def _module_name(path: Path, root: Path) -> list[str]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _file_of(parts: list[str], root: Path) -> Path | None:
    if not parts or parts[0] not in PACKAGES:
        return None
    base = root.joinpath(*parts)
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.is_file():
            return f
    return None


def _with_packages(parts: list[str], root: Path, where: str) -> list[Path]:
    """Files run by importing module `parts`: every package on its path, then the module."""
    if not parts or parts[0] not in PACKAGES:
        return []
    if _file_of(parts, root) is None and not root.joinpath(*parts).is_dir():
        raise ImportError(f"{where}: imports {'.'.join(parts)}, which is no module of the project")
    files = [_file_of(parts[:i], root) for i in range(1, len(parts) + 1)]
    return [f for f in files if f is not None]


def _imported(path: Path, root: Path) -> list[Path]:
    tree = ast.parse(path.read_bytes(), filename=str(path))
    here = _module_name(path, root)
    package = here if path.name == "__init__.py" else here[:-1]
    out: list[Path] = []
    for node in _runtime_nodes(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        where = f"{path.relative_to(root)}: line {node.lineno}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                out += _with_packages(alias.name.split("."), root, where)
        else:
            if node.level > len(package):
                raise ImportError(f"{where}: relative import beyond the top package")
            base = package[:len(package) - node.level + 1] if node.level else []
            parts = base + (node.module.split(".") if node.module else [])
            out += _with_packages(parts, root, where)
            for alias in node.names:
                sub = _file_of(parts + [alias.name], root) if alias.name != "*" else None
                if sub is not None:
                    out.append(sub)
    return out


def _runtime_nodes(tree: ast.AST):
    """Every node of `tree` except the bodies of `if TYPE_CHECKING:` blocks."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo += node.orelse
            continue
        todo += ast.iter_child_nodes(node)


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _runs_code(path: Path) -> bool:
    body = ast.parse(path.read_bytes()).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return bool(body)
