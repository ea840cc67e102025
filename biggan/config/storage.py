"""`storage:` section: where runs keep what every node of a cluster must read (biggan.storage)."""
from __future__ import annotations

import re

from pydantic import field_validator

from biggan.config.base import Strict

# S3 bucket names: 3-63 characters, lower case, digits, '.' and '-'
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class StorageConfig(Strict):
    # null: this machine's folders (checkpoints/train, data/...), as on one machine.
    # s3://bucket/prefix: an S3-compatible store (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...).
    # /absolute/path: a filesystem every node mounts at that same path.
    root: str | None = None

    @field_validator("root")
    @classmethod
    def _root(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if v.startswith("s3://"):
            bucket = v[5:].split("/", 1)[0]
            if not BUCKET.match(bucket):
                raise ValueError(f"{v!r}: {bucket!r} is not an S3 bucket name (3-63 of a-z 0-9 . -)")
            return v.rstrip("/")
        if "://" in v:
            raise ValueError(f"{v!r}: only s3:// URIs and absolute paths of a shared filesystem are supported")
        if not v.startswith("/"):
            raise ValueError(f"{v!r}: a shared filesystem path must be absolute (every node mounts it there)")
        return v.rstrip("/") or "/"
