"""Tiny run specifications for the training tests (16 px digits, ch 4: ~26k parameters)."""
from __future__ import annotations

from biggan.config import RunSpec, parse_params
from biggan.config.base import deep_merge

RES = 16
BASE = {
    "datasets": {"d16": {"source": {"kind": "digits"}, "resolution": RES}},
    "model": {"resolution": RES, "ch": 4, "dim_z": 12, "n_classes": 10, "shared_dim": 8, "attention": []},
    "train": {"iterations": 30, "batch_size": 16, "num_workers": 1, "launcher": "local", "num_d_steps": 1,
              "threads_per_worker": 1, "ema": {"start": 0, "decay": 0.99}, "log_every": 5, "sv_every": 10,
              "eval_every": 20, "eval_samples": 200, "checkpoint_every": 10, "sample_every": 20,
              "evaluate": False, "optim": {"g_lr": 2e-4, "d_lr": 2e-4}},
    "variants": {"tiny": {"dataset": "d16"}},
}
# no spectral norm and learning rates ~2500x too high: G's spectra explode within a few steps
UNSTABLE = {"model": {"sn": {"g": False, "d": False}},
            "train": {"optim": {"g_lr": 0.5, "d_lr": 0.5}, "ortho": {"enabled": False}, "sv_every": 5,
                      "collapse": {"warmup": 0}}}


def tiny_spec(seed: int = 0, uri: str | None = None, **overrides) -> RunSpec:
    """`overrides`: nested dicts merged into BASE, e.g. train={"iterations": 40}."""
    raw = deep_merge(BASE, overrides)
    if uri:
        raw = deep_merge(raw, {"tracking": {"uri": uri}})
    return parse_params(raw).run("tiny", seed)


def micro_batch(spec: RunSpec) -> int:
    return spec.train.micro_batch
