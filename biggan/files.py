"""Writing files so that a reader never sees a half-written one: write aside, then rename.

Two strengths:
    atomic_write  a unique temporary name beside the target, then os.replace: a crash leaves
                  the old file or the new one (stage outputs, tables, plot data, summaries)
    write_with    also fsyncs the file and its folder, so the rename survives a power loss:
                  a rename is atomic but only durable once the folder's entries are flushed
                  (the shard journal and shards, checkpoints)
and on top of atomic_write the formats the stages write: JSON, torch.save, CSV.
"""
from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call `write(file)` on a fresh temporary file beside `path`, then rename it to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: Path, obj) -> Path:
    return atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()))


def write_torch(path: Path, obj) -> Path:
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))


def csv_text(rows: list[dict], columns: list[str]) -> str:
    """Rows as CSV; `columns` first (those no row has are dropped), then any others in order of appearance."""
    present = {k for r in rows for k in r}
    cols = [c for c in columns if c in present or not rows]
    cols += [k for r in rows for k in r if k not in cols]
    cols = list(dict.fromkeys(cols))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, restval="", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> Path:
    text = csv_text(rows, columns)
    return atomic_write(path, lambda f: f.write(text.encode()))


def fsync_dir(path: str | Path) -> None:
    """Flush a directory's entries (no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace(src: str | Path, dst: str | Path) -> None:
    """os.replace, then fsync the destination's folder (and the source's, if another)."""
    os.replace(src, dst)
    fsync_dir(Path(dst).parent)
    if Path(src).parent.resolve() != Path(dst).parent.resolve():
        fsync_dir(Path(src).parent)


def write_with(path: str | Path, write: Callable[[IO[bytes]], None], tmp_suffix: str = ".tmp") -> Path:
    """Call `write(file)` on `<path><tmp_suffix>`, fsync it, and rename it to `path` durably."""
    path = Path(path)
    tmp = path.with_name(path.name + tmp_suffix)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    replace(tmp, path)
    return path


def write_bytes(path: str | Path, data: bytes, tmp_suffix: str = ".tmp") -> Path:
    return write_with(path, lambda f: f.write(data), tmp_suffix)
