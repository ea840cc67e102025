"""Writing one shard: a tar written under a temporary name and renamed when complete.

Members are written by webdataset's TarWriter with a fixed mtime, owner and mode, in sorted
extension order, so the same samples give byte-identical tars. Sizes are tar bytes: a 512-byte
header per member, data padded to 512, two zero blocks at the end and the whole padded to
tarfile's 10,240-byte record (webdataset's own `maxsize` counts payload only).
"""
from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

import webdataset as wds

from biggan import files

MTIME = 946684800            # 2000-01-01T00:00:00Z
BLOCK = tarfile.BLOCKSIZE    # 512
RECORD = tarfile.RECORDSIZE  # 10240
TMP_SUFFIX = ".tmp"


def shard_name(i: int) -> str:
    return f"shard-{i:06d}.tar"


def sample_bytes(fields: dict[str, bytes]) -> int:
    return sum(BLOCK + -(-len(v) // BLOCK) * BLOCK for v in fields.values())


def tar_size(member_bytes: int) -> int:
    return -(-(member_bytes + 2 * BLOCK) // RECORD) * RECORD


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ShardFile:
    """An open shard: add samples while `fits`, then `commit` (atomic rename)."""

    def __init__(self, out: Path, index: int):
        self.name = shard_name(index)
        self.final = out / self.name
        self.tmp = out / (self.name + TMP_SUFFIX)
        self._file = open(self.tmp, "wb")
        self._tar = wds.TarWriter(self._file, encoder=False, mtime=MTIME, mode=0o444,
                                  user="biggan", group="biggan")
        self.count = 0
        self.member_bytes = 0

    def fits(self, fields: dict[str, bytes], max_count: int, max_bytes: int) -> bool:
        """A first sample always fits (a sample larger than max_bytes gets a shard of its own)."""
        if self.count == 0:
            return True
        return (self.count < max_count
                and tar_size(self.member_bytes + sample_bytes(fields)) <= max_bytes)

    def add(self, key: str, fields: dict[str, bytes]) -> None:
        self._tar.write({"__key__": key, **fields})
        self.count += 1
        self.member_bytes += sample_bytes(fields)

    def commit(self) -> dict:
        """Close, flush to disk and rename; -> {name, count, bytes, sha256}."""
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        files.replace(self.tmp, self.final)
        return {"name": self.name, "count": self.count, "bytes": self.final.stat().st_size,
                "sha256": file_sha256(self.final)}

    def abandon(self) -> None:
        self._file.close()
        self.tmp.unlink(missing_ok=True)
