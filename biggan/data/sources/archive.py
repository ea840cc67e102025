"""Reading uncompressed tars (and tars inside tars) in place: member names and byte offsets.

Nothing is extracted: an image inside ILSVRC2012_img_train.tar/n01440764.tar is located by
its absolute byte range in the outer file, so worker processes read it with one seek.
Members that are not plain files at a safe relative path (links, devices, absolute or '..'
names) are not read: they come out as `Rejected`, for the skip report, and the rest of the
archive is used. Only an archive that cannot be read at all raises SourceError.
"""
from __future__ import annotations

import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from biggan.data.items import LINK, NOT_REGULAR, UNSAFE_NAME, SourceError


@dataclass(frozen=True)
class Member:
    name: str
    offset: int       # absolute offset of the data in the outermost file
    size: int


@dataclass(frozen=True)
class Rejected:
    name: str
    reason: str       # one of biggan.data.items' stable reasons


def unsafe_name(name: str) -> bool:
    """Absolute paths, '..' components and drive letters (path traversal if ever extracted)."""
    p = PurePosixPath(name.replace("\\", "/"))
    return p.is_absolute() or ".." in p.parts or (len(name) > 1 and name[1] == ":")


def _members(tf: tarfile.TarFile, where: str, base: int
             ) -> Iterator[tuple[tarfile.TarInfo, Member | Rejected]]:
    seen = 0
    try:
        for ti in tf:
            seen += 1
            tf.members = []   # headers of big archives are not kept in memory
            if unsafe_name(ti.name):
                yield ti, Rejected(ti.name, UNSAFE_NAME)
            elif ti.isdir():
                continue
            elif ti.issym() or ti.islnk():
                yield ti, Rejected(ti.name, LINK)
            elif not ti.isreg() or ti.issparse():
                yield ti, Rejected(ti.name, NOT_REGULAR)
            else:
                yield ti, Member(ti.name, base + ti.offset_data, ti.size)
    except (tarfile.TarError, OSError) as e:
        raise SourceError(f"{where}: cannot read the archive after member {seen} "
                          f"({type(e).__name__}: {e})") from None


def _open(path_or_obj: str | IO[bytes], where: str) -> tarfile.TarFile:
    try:
        if isinstance(path_or_obj, str):
            return tarfile.open(path_or_obj, mode="r:")
        return tarfile.open(fileobj=path_or_obj, mode="r:")
    except (tarfile.TarError, OSError) as e:
        raise SourceError(f"{where}: not a readable uncompressed tar ({e})") from None


def iter_tar(path: str | Path) -> Iterator[Member | Rejected]:
    """Members of a tar other than folders, in archive order."""
    where = str(path)
    if not Path(path).is_file():
        raise SourceError(f"archive not found: {where}")
    with _open(where, where) as tf:
        for _, m in _members(tf, where, 0):
            yield m


def iter_nested(path: str | Path) -> Iterator[tuple[str, Iterator[Member | Rejected]]]:
    """For a tar of tars: (inner tar name, its members with offsets in the outer file).

    Members of the outer tar that are rejected, or are not .tar files, are passed over: the
    caller sees them in `iter_tar(path)`.
    """
    where = str(path)
    if not Path(path).is_file():
        raise SourceError(f"archive not found: {where}")
    with _open(where, where) as outer:
        for ti, m in _members(outer, where, 0):
            if isinstance(m, Rejected) or not ti.name.endswith(".tar"):
                continue
            inner_where = f"{where}/{ti.name}"
            inner = _open(outer.extractfile(ti), inner_where)
            yield ti.name, (mm for _, mm in _members(inner, inner_where, m.offset))
