"""Collapse detection: configurable rules over the metric history of one training run.

The paper (section 4) finds collapse sudden: a few G layers' top singular values explode,
D's loss drops towards zero while G's grows, and sample quality falls off a cliff; it
early-stops and reports the best scores before collapse ("Itr" in Table 1 = iteration of
collapse, or the full length if stable). The rules, each switched off with 0 / false
in `train.collapse`:

    nonfinite   any D or G loss (or FID, or G sigma0) is NaN or +-inf.
                collapse iteration = the first such iteration.
    fid         FID_t > fid_factor * min_{s<t} FID_s for fid_patience consecutive
                evaluations (off when fid_factor or fid_patience is 0).
                collapse iteration = the first evaluation of that run (the onset), detected
                at the last one.
    sigma_jump  for any G layer, sigma0_t / sigma0_prev >= sigma_jump, prev = the previous
                spectrum check (sv_every iterations earlier). collapse iteration = t.
    loss        over the last loss_window iterations, mean D loss < d_loss_floor while mean
                G loss > g_loss_ceiling (off when either threshold is 0; needs a full window).
                collapse iteration = the last iteration of the window.

The first rule that fires wins; later observations do not change the verdict. The
monitor is plain Python (no torch) so it can be unit-tested on synthetic histories and its
`state_dict()` travels in checkpoints.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass
from typing import Mapping

from biggan.config.train import CollapseConfig


@dataclass(frozen=True)
class Collapse:
    iteration: int        # onset: the iteration the run is declared collapsed at
    detected_at: int      # when the rule fired (later than `iteration` for the fid rule)
    rule: str             # nonfinite | fid | sigma_jump | loss
    detail: str


def _finite(*xs: float) -> bool:
    return all(math.isfinite(x) for x in xs)


class CollapseMonitor:
    def __init__(self, cfg: CollapseConfig):
        self.cfg = cfg
        self.collapse: Collapse | None = None
        self.fid_best: float | None = None
        self.fid_bad_since: int | None = None    # first iteration of the current run of bad evaluations
        self.fid_bad_count = 0
        self.sigma_prev: dict[str, float] = {}
        self.losses: deque[tuple[float, float]] = deque(maxlen=cfg.loss_window)

    @property
    def collapsed(self) -> bool:
        return self.collapse is not None

    def _fire(self, iteration: int, detected_at: int, rule: str, detail: str) -> Collapse:
        self.collapse = Collapse(iteration, detected_at, rule, detail)
        return self.collapse

    def observe_losses(self, iteration: int, d_loss: float, g_loss: float) -> Collapse | None:
        """One training iteration's (local) D and G losses."""
        if self.collapse:
            return None
        if not _finite(d_loss, g_loss):
            if self.cfg.nonfinite:
                return self._fire(iteration, iteration, "nonfinite",
                                  f"d_loss={d_loss}, g_loss={g_loss} at iteration {iteration}")
            return None
        self.losses.append((d_loss, g_loss))
        c = self.cfg
        if c.d_loss_floor > 0 and c.g_loss_ceiling > 0 and len(self.losses) == c.loss_window:
            d = sum(x[0] for x in self.losses) / c.loss_window
            g = sum(x[1] for x in self.losses) / c.loss_window
            if d < c.d_loss_floor and g > c.g_loss_ceiling:
                return self._fire(iteration, iteration, "loss",
                                  f"mean d_loss {d:.4g} < {c.d_loss_floor} while mean g_loss {g:.4g} > "
                                  f"{c.g_loss_ceiling} over the {c.loss_window} iterations to {iteration}")
        return None

    def observe_sigmas(self, iteration: int, sigma0: Mapping[str, float]) -> Collapse | None:
        """G's top singular value per layer at a spectrum check."""
        if self.collapse:
            return None
        bad = [k for k, v in sigma0.items() if not math.isfinite(v)]
        if bad and self.cfg.nonfinite:
            return self._fire(iteration, iteration, "nonfinite", f"sigma0 of {bad[0]} is {sigma0[bad[0]]}")
        jump = self.cfg.sigma_jump
        found = None
        if jump > 0:
            ratios = {k: v / self.sigma_prev[k] for k, v in sigma0.items()
                      if k in self.sigma_prev and self.sigma_prev[k] > 0 and math.isfinite(v)}
            if ratios:
                layer = max(ratios, key=ratios.get)
                if ratios[layer] >= jump:
                    found = (layer, ratios[layer])
        self.sigma_prev = {k: float(v) for k, v in sigma0.items() if math.isfinite(v)}
        if found:
            layer, r = found
            return self._fire(iteration, iteration, "sigma_jump",
                              f"sigma0 of G layer {layer} grew {r:.3g}x (>= {jump}) since the previous check")
        return None

    def observe_fid(self, iteration: int, fid: float) -> Collapse | None:
        if self.collapse:
            return None
        c = self.cfg
        if not math.isfinite(fid):
            if c.nonfinite:
                return self._fire(iteration, iteration, "nonfinite", f"FID is {fid}")
            return None
        rule_on = c.fid_factor > 0 and c.fid_patience > 0
        if rule_on and self.fid_best is not None and fid > c.fid_factor * self.fid_best:
            if self.fid_bad_count == 0:
                self.fid_bad_since = iteration
            self.fid_bad_count += 1
            if self.fid_bad_count >= c.fid_patience:
                return self._fire(self.fid_bad_since, iteration, "fid",
                                  f"FID above {c.fid_factor} x best ({self.fid_best:.4g}) for "
                                  f"{self.fid_bad_count} consecutive evaluations, from iteration "
                                  f"{self.fid_bad_since} to {iteration} (last {fid:.4g})")
            return None
        self.fid_bad_count, self.fid_bad_since = 0, None
        self.fid_best = fid if self.fid_best is None else min(self.fid_best, fid)
        return None

    def state_dict(self) -> dict:
        return {"collapse": asdict(self.collapse) if self.collapse else None, "fid_best": self.fid_best,
                "fid_bad_since": self.fid_bad_since, "fid_bad_count": self.fid_bad_count,
                "sigma_prev": dict(self.sigma_prev), "losses": [list(x) for x in self.losses]}

    def load_state_dict(self, state: dict) -> None:
        self.collapse = Collapse(**state["collapse"]) if state["collapse"] else None
        self.fid_best = state["fid_best"]
        self.fid_bad_since = state["fid_bad_since"]
        self.fid_bad_count = state["fid_bad_count"]
        self.sigma_prev = dict(state["sigma_prev"])
        self.losses = deque((tuple(x) for x in state["losses"]), maxlen=self.cfg.loss_window)
