"""sha256 of weight files: the identity recorded with reference statistics."""
from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def checked_state_dict(path: Path, sha256: str | None, key: str, expected: str, missing: str,
                       mmap: bool = False) -> tuple[dict, str]:
    """A local weights file as a state_dict, its sha256 checked against params' `key` (None: not
    checked); `missing` is the message for an absent file (it says where the file comes from).
    -> (state_dict, the file's sha256). Nothing is ever downloaded."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(missing)
    digest = sha256_file(path)
    if sha256 is not None and digest != sha256.lower():
        raise ValueError(f"{path}: sha256 {digest} does not match {key} {sha256}; expected {expected}")
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state_dict, got {type(state).__name__}")
    return state, digest
