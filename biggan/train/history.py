"""What a run remembers between checkpoints: metric history and the model it will hand out.

History rows are plain dicts (JSON/CSV-ready): `losses` every log point (means over the
window and over ranks), `sigma0` every spectrum check (one column per layer, 'G/<layer>' or
'D/<layer>'), `evals` every evaluation (the scorer's numbers and D's accuracy, d_acc_train
and d_acc_val: biggan.train.monitoring.DAccuracy).

The output model is chosen as the paper reports results: the best before collapse.
    best by FID  G_ema at the evaluation with the lowest FID (evaluations after the
                 collapse onset are never taken: they are skipped or, for the fid rule, worse)
    fallback     without evaluations: G_ema at the last checkpoint written while healthy
    final        neither collapsed nor evaluated: G_ema at the end
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


def snapshot(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().cpu() for k, v in state.items()}


@dataclass
class History:
    losses: list[dict] = field(default_factory=list)
    sigma0: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)

    def state_dict(self) -> dict:
        return {"losses": self.losses, "sigma0": self.sigma0, "evals": self.evals}

    def load_state_dict(self, s: dict) -> None:
        self.losses, self.sigma0, self.evals = list(s["losses"]), list(s["sigma0"]), list(s["evals"])


@dataclass
class Selection:
    fid_best: float | None = None
    fid_best_iteration: int | None = None
    is_at_fid_best: float | None = None
    is_best: float | None = None
    is_best_iteration: int | None = None
    best_state: dict | None = None           # G_ema at fid_best
    fallback_iteration: int | None = None
    fallback_state: dict | None = None       # G_ema at the last healthy checkpoint

    def observe_eval(self, iteration: int, scores: dict, g_ema_state: dict) -> None:
        """Scores of a healthy (pre-collapse) evaluation; keeps G_ema if its FID is the best."""
        fid, is_mean = scores.get("fid"), scores.get("is_mean")
        if is_mean is not None and math.isfinite(is_mean) and (self.is_best is None or is_mean > self.is_best):
            self.is_best, self.is_best_iteration = float(is_mean), iteration
        if fid is not None and math.isfinite(fid) and (self.fid_best is None or fid < self.fid_best):
            self.fid_best, self.fid_best_iteration = float(fid), iteration
            self.is_at_fid_best = None if is_mean is None else float(is_mean)
            self.best_state = snapshot(g_ema_state)

    def observe_checkpoint(self, iteration: int, g_ema_state: dict) -> None:
        self.fallback_iteration, self.fallback_state = iteration, snapshot(g_ema_state)

    def choose(self, collapsed: bool, final_iteration: int, final_state: dict) -> tuple[str, int, dict]:
        """-> (how, iteration, G_ema state) of the model the run hands out."""
        if self.best_state is not None:
            return "best_fid", self.fid_best_iteration, self.best_state
        if collapsed and self.fallback_state is not None:
            return "last_healthy_checkpoint", self.fallback_iteration, self.fallback_state
        if collapsed:
            raise RuntimeError("training collapsed before any healthy checkpoint or evaluation; "
                               "there is no model to hand out")
        return "final", final_iteration, snapshot(final_state)

    def scores(self) -> dict:
        return {"fid_best": self.fid_best, "fid_best_iteration": self.fid_best_iteration,
                "is_at_fid_best": self.is_at_fid_best, "is_best": self.is_best,
                "is_best_iteration": self.is_best_iteration}

    def state_dict(self) -> dict:
        return {**self.scores(), "best_state": self.best_state, "fallback_iteration": self.fallback_iteration,
                "fallback_state": self.fallback_state}

    def load_state_dict(self, s: dict) -> None:
        for k, v in s.items():
            setattr(self, k, v)
