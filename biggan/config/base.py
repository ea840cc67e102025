"""Strict pydantic base and readable configuration errors.

Every section of params.yaml is a `Strict` model: unknown keys, wrong types and
impossible values are rejected at load time, and `ConfigError` names the file,
the dotted key path and, where there is a closed set, the allowed values.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class Strict(BaseModel):
    """Base for every config section: no unknown keys, frozen, and no type coercion.

    Strict: `iterations: true` or `iterations: 2.0` is not an int and `use_gpu: "yes"` is not a
    bool; a float key accepts an int (`lr: 1`). Lists must be lists (YAML sequences).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True)


class ConfigError(ValueError):
    """A bad params file: one line per problem, each with the key's dotted path."""

    def __init__(self, source: str | Path | None, problems: list[str]):
        self.source = str(source) if source is not None else "<params>"
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid parameters in {self.source}:\n{lines}")


def dotted(loc: tuple[Any, ...], prefix: str = "") -> str:
    parts = [prefix] if prefix else []
    for p in loc:
        # pydantic inserts the union tag (e.g. "digits") into loc for discriminated unions
        parts.append(str(p))
    return ".".join(parts) if parts else "<root>"


def describe(err: ValidationError, prefix: str = "") -> list[str]:
    """Turn a pydantic error into 'path: message (got value)' lines."""
    out = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        got = e.get("input")
        shown = "" if e["type"] in ("missing", "extra_forbidden") or isinstance(got, dict) else f" (got {got!r})"
        out.append(f"{dotted(loc, prefix)}: {msg}{shown}")
    return out


def deep_merge(base: dict, override: dict) -> dict:
    """Recursively merge `override` into a copy of `base` (dicts merge, everything else replaces)."""
    merged = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(merged.get(k), dict):
            merged[k] = deep_merge(merged[k], v)
        else:
            merged[k] = v
    return merged
