"""Reading uncompressed tars (and tars inside tars) in place: member names and byte offsets.

Nothing is extracted: an image inside ILSVRC2012_img_train.tar/n01440764.tar is located by
its absolute byte range in the outer file, so worker processes read it with one seek.
"""
from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from biggan.data.items import SourceError


@dataclass(frozen=True)
class Member:
    name: str
    offset: int       # absolute offset of the data in the outermost file
    size: int


def check_member_name(archive: str, name: str) -> None:
    """Reject absolute paths and '..' (path traversal), whatever we would do with the member."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or (len(name) > 1 and name[1] == ":"):
        raise SourceError(f"{archive}: member {name!r} has an absolute path or '..'; "
                          f"refusing to read this archive")


def _members(tf: tarfile.TarFile, where: str, base: int) -> Iterator[tuple[tarfile.TarInfo, Member]]:
    for ti in tf:
        check_member_name(where, ti.name)
        if ti.isdir():
            continue
        if not ti.isreg() or ti.issparse():
            raise SourceError(f"{where}: member {ti.name!r} is a link or special file; "
                              f"only regular files are read")
        yield ti, Member(ti.name, base + ti.offset_data, ti.size)
        tf.members = []   # headers of big archives are not kept in memory


def _open(path_or_obj: str | IO[bytes], where: str) -> tarfile.TarFile:
    try:
        if isinstance(path_or_obj, str):
            return tarfile.open(path_or_obj, mode="r:")
        return tarfile.open(fileobj=path_or_obj, mode="r:")
    except (tarfile.TarError, OSError) as e:
        raise SourceError(f"{where}: not a readable uncompressed tar ({e})") from None


def iter_tar(path: str | Path) -> Iterator[Member]:
    """Regular files of a tar, in archive order."""
    where = str(path)
    if not Path(path).is_file():
        raise SourceError(f"archive not found: {where}")
    with _open(where, where) as tf:
        for _, m in _members(tf, where, 0):
            yield m


def iter_nested(path: str | Path) -> Iterator[tuple[str, Iterator[Member]]]:
    """For a tar of tars: (inner tar name, its regular files with offsets in the outer file)."""
    where = str(path)
    if not Path(path).is_file():
        raise SourceError(f"archive not found: {where}")
    with _open(where, where) as outer:
        for ti, m in _members(outer, where, 0):
            inner_where = f"{where}/{ti.name}"
            if not ti.name.endswith(".tar"):
                raise SourceError(f"{inner_where}: expected only per-class .tar members")
            fobj = outer.extractfile(ti)
            inner = _open(fobj, inner_where)
            yield ti.name, (mm for _, mm in _members(inner, inner_where, m.offset))
