"""Renames of the shard journal, shards and checkpoints are followed by an fsync of their folder."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import torch

from biggan import files
from biggan.data.shard import state
from biggan.data.shard.tarout import ShardFile
from biggan.train.checkpoint import LocalCheckpoints, write_state


@pytest.fixture
def synced(monkeypatch) -> list[tuple[bool, int]]:
    """(is a directory, inode) of every fd passed to os.fsync, which still runs."""
    seen: list[tuple[bool, int]] = []
    real = os.fsync

    def recording(fd: int) -> None:
        st = os.fstat(fd)
        seen.append((stat.S_ISDIR(st.st_mode), st.st_ino))
        real(fd)
    monkeypatch.setattr(os, "fsync", recording)
    return seen


def dir_synced(seen: list[tuple[bool, int]], folder: Path) -> bool:
    return (True, folder.stat().st_ino) in seen


def test_journal_and_shard_renames_sync_their_folder(tmp_path, synced):
    state.write_json(tmp_path / state.PROGRESS, {"shards": []})
    assert dir_synced(synced, tmp_path) and (False, (tmp_path / state.PROGRESS).stat().st_ino) in synced
    synced.clear()
    shard = ShardFile(tmp_path, 0)
    shard.add("k", {"cls": b"0"})
    shard.commit()
    assert dir_synced(synced, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [state.PROGRESS, "shard-000000.tar"]


def test_checkpoint_renames_sync_their_folder(tmp_path, synced):
    write_state(tmp_path, {"iteration": 1, "w": torch.zeros(2)})
    assert dir_synced(synced, tmp_path)
    synced.clear()
    final = LocalCheckpoints(tmp_path / "run", keep=2).save({"iteration": 2}, "ckpt_00000002_r0")
    assert dir_synced(synced, tmp_path / "run") and dir_synced(synced, final)
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["ckpt_00000002_r0"]


def test_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "a.json"
    files.write_bytes(target, b"old")

    def boom(f) -> None:
        f.write(b"half")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        files.write_with(target, boom)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.json"]
