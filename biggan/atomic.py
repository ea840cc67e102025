"""Crash-safe replacement of files and folders: write aside, fsync, rename, fsync the folder.

A rename is atomic, but only durable once the directory holding the new entry is flushed:
after a power loss without that fsync the old name (or no name) may come back even though
the data blocks were written. Used by the shard journal and shards, and by checkpoints.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO


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
    """Call `write(file)` on `<path><tmp_suffix>`, fsync it, and rename it to `path`."""
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
