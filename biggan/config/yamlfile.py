"""Reading params YAML: PyYAML's SafeLoader, but a key repeated in one mapping is an error, and
booleans are YAML 1.2's.

PyYAML keeps the last of two equal keys without a word, so a second `train:` block replaces
the first one whole (and every key it lacks falls back to its default). PyYAML follows YAML 1.1,
where on/off/yes/no are booleans; DVC reads params.yaml as YAML 1.2 (ruamel), where they are
strings, and `dvc exp run -S` writes the file back with `mode: "off"` unquoted. With 1.1 rules
every such experiment would read `sigma_clamp.mode: false`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import re

import yaml

MERGE_TAG = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.YAMLError):
    def __init__(self, source: str, key_path: str, line: int, first_line: int):
        self.source, self.key_path, self.line, self.first_line = source, key_path, line, first_line
        super().__init__(f"{key_path}: duplicate key in {source} on line {line} (first on line "
                         f"{first_line}); YAML would keep only the last one")


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that raises DuplicateKeyError naming the file, the line and the key path."""

    def construct_document(self, node: yaml.Node) -> Any:
        _check_unique(node, [], self.name, set())
        return super().construct_document(node)


BOOL_TAG = "tag:yaml.org,2002:bool"
UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
UniqueKeyLoader.add_implicit_resolver(BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def _check_unique(node: yaml.Node, path: list[str], source: str, seen_nodes: set[int]) -> None:
    if id(node) in seen_nodes:      # an alias of a node already checked (or a recursive one)
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            if key.tag == MERGE_TAG:      # '<<: *base' merges; its keys may be overridden
                _check_unique(value, path, source, seen_nodes)
                continue
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else f"<{key.tag}>"
            ident = (key.tag, name)
            line = key.start_mark.line + 1
            if ident in first:
                raise DuplicateKeyError(source, ".".join([*path, name]), line, first[ident])
            first[ident] = line
            _check_unique(value, [*path, name], source, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_unique(item, [*path, str(i)], source, seen_nodes)


def load_yaml(path: str | Path) -> Any:
    """Parse one YAML file; DuplicateKeyError or yaml.YAMLError when it is not valid."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=UniqueKeyLoader)
