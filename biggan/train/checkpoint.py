"""Checkpoint contents and files.

One checkpoint is a directory holding `state.pt` (written by rank 0):

    iteration        completed iterations (G steps)
    G, D, G_ema      state dicts (G_ema absent when EMA is off)
    opt_g, opt_d     Adam state dicts
    rng              per rank: torch CPU RNG, the latent generator, CUDA RNG (if any)
    monitor          CollapseMonitor.state_dict()
    selection        best-by-FID / last-healthy G_ema and the best scores
    history          loss / sigma0 / eval rows so far
    resumes          iterations this run was resumed from (one entry per restart)
    meta             free-form identification (variant, seed, run name)

Everything is tensors, containers and numbers, so it loads with `weights_only=True`.
`LocalCheckpoints` is the store of in-process runs (launcher 'local', tests): directories
`ckpt_<iteration>_r<restart>/` under the run directory, written to a temporary name and
renamed, pruned to the newest `keep`.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import torch

from biggan import files

STATE_FILE = "state.pt"
_CKPT = re.compile(r"^ckpt_(\d+)_r(\d+)$")


def checkpoint_name(iteration: int, restarts: int) -> str:
    """Unique per (iteration, restart): a resumed run may reach an iteration a lost attempt reached."""
    return f"ckpt_{iteration:08d}_r{restarts}"


def write_state(directory: str | Path, state: dict) -> Path:
    """Atomic and durable: written aside, fsynced, renamed, the folder fsynced."""
    return files.write_with(Path(directory) / STATE_FILE, lambda f: torch.save(state, f))


def read_state(directory: str | Path) -> dict:
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {directory} has no {STATE_FILE}")
    return torch.load(path, map_location="cpu", weights_only=True)


def rng_state(generator: torch.Generator) -> dict:
    s = {"torch": torch.get_rng_state(), "latents": generator.get_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        s["cuda"] = torch.cuda.get_rng_state()
    return s


def set_rng_state(s: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(s["torch"])
    generator.set_state(s["latents"])
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state(s["cuda"])


class LocalCheckpoints:
    """Checkpoint directories of one run on the local file system."""

    def __init__(self, run_dir: str | Path, keep: int):
        self.run_dir, self.keep = Path(run_dir), keep

    def list(self) -> list[tuple[int, int, Path]]:
        """(iteration, restart, path), oldest first."""
        if not self.run_dir.is_dir():
            return []
        found = []
        for p in self.run_dir.iterdir():
            m = _CKPT.match(p.name)
            if m and (p / STATE_FILE).is_file():
                found.append((int(m[1]), int(m[2]), p))
        return sorted(found)

    def latest(self) -> Path | None:
        found = self.list()
        return found[-1][2] if found else None

    def save(self, state: dict, name: str) -> Path:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp_", dir=self.run_dir))
        write_state(tmp, state)
        final = self.run_dir / name
        if final.exists():
            shutil.rmtree(final)
        files.replace(tmp, final)
        for _, _, old in self.list()[:-self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final
