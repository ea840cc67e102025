"""Where the loop runs: rank, world size, device, checkpoint I/O and collectives.

`Env` is what `biggan.train.loop.run_loop` needs from its surroundings; `LocalEnv` runs it in
the calling process (world size 1, checkpoints in a local directory), `RayEnv`
(biggan.train.ray_trainer) inside a Ray Train worker. Checkpoint saving is collective: every
rank calls `save` at the same iterations, rank 0 passes the state, the others None.
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch
import torch.distributed as dist

from biggan.train.checkpoint import LocalCheckpoints, read_state


class Env(Protocol):
    rank: int
    world_size: int
    device: torch.device

    def load(self) -> dict | None:
        """The newest checkpoint's state, or None on a fresh run."""
        ...

    def save(self, state: dict | None, name: str, metrics: dict) -> None: ...


class LocalEnv:
    rank, world_size = 0, 1

    def __init__(self, run_dir: str | Path, keep: int = 2, device: str = "cpu"):
        self.store = LocalCheckpoints(run_dir, keep)
        self.device = torch.device(device)

    def load(self) -> dict | None:
        latest = self.store.latest()
        return read_state(latest) if latest else None

    def save(self, state: dict | None, name: str, metrics: dict) -> None:
        self.store.save(state, name)


def distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_sum(values: list[float]) -> list[float]:
    """Element-wise sum over ranks (identity on one process)."""
    if not distributed():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def all_gather(obj) -> list:
    if not distributed():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out
