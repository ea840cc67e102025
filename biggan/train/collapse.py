"""Collapse detection: rules over the metric history of one training run, after the paper.

Section 4 of the paper finds collapse sudden. In healthy training D's loss sits near zero
(D wins on its training set); at collapse it jumps UP sharply (4.2, appendix F). G's top
singular values grow over a few checks and then explode (4.1, figure 3), and sample quality
falls off a cliff. The paper early-stops and reports the best scores before collapse ("Itr"
in Table 1 = iteration of collapse). The rules (`train.collapse`; each off with 0 / false):

    nonfinite_loss   a D or G loss is NaN or +-inf.        iteration = that iteration
    nonfinite_fid    an FID is NaN or +-inf.                iteration = that evaluation
    nonfinite_sigma  a G layer's sigma0 is NaN or +-inf.    iteration = that check
    d_loss_jump      m_t >= d_loss_jump * min(m), m_t - min(m) >= d_loss_margin and
                     m_t >= d_loss_level, where m_t is D's loss averaged over the last
                     loss_window iterations and min(m) its minimum over the last
                     loss_lookback iterations.   iteration = t
    sigma            a G layer's sigma0_t >= sigma_factor * median of its previous
                     sigma_history checks (never the t = 0 spectrum alone: after orthogonal
                     init every sigma0 is 1).               iteration = t
    fid              FID_t > fid_factor * min_{s<t} FID_s for fid_patience consecutive
                     evaluations.   iteration = the first of them (the onset), detected at the last

Apart from the nonfinite rules, nothing fires before `warmup` iterations (early training
moves every statistic a lot), though the histories fill from the start. The first rule that
fires wins; later observations change nothing. Plain Python (no torch): unit-tested on
synthetic histories, and `state_dict()` travels in checkpoints.
"""
from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import asdict, dataclass
from typing import Mapping

from biggan.config.train import CollapseConfig


@dataclass(frozen=True)
class Collapse:
    iteration: int        # onset: the iteration the run is declared collapsed at
    detected_at: int      # when the rule fired (later than `iteration` for the fid rule)
    rule: str             # nonfinite_loss | nonfinite_fid | nonfinite_sigma | d_loss_jump | sigma | fid
    detail: str


class CollapseMonitor:
    def __init__(self, cfg: CollapseConfig):
        self.cfg = cfg
        self.collapse: Collapse | None = None
        self.fid_best: float | None = None
        self.fid_bad_since: int | None = None    # first iteration of the current run of bad evaluations
        self.fid_bad_count = 0
        self.d_window: deque[float] = deque(maxlen=cfg.loss_window)
        self.d_means: deque[tuple[int, float]] = deque()      # (t, windowed mean) over the lookback
        self.sigmas: dict[str, list[float]] = {}               # layer -> its last sigma_history values

    @property
    def collapsed(self) -> bool:
        return self.collapse is not None

    def _fire(self, iteration: int, detected_at: int, rule: str, detail: str) -> Collapse:
        self.collapse = Collapse(iteration, detected_at, rule, detail)
        return self.collapse

    def _armed(self, t: int) -> bool:
        return t >= self.cfg.warmup

    def observe_losses(self, t: int, d_loss: float, g_loss: float) -> Collapse | None:
        """One training iteration's D and G losses."""
        if self.collapse:
            return None
        c = self.cfg
        if not (math.isfinite(d_loss) and math.isfinite(g_loss)):
            if c.nonfinite:
                return self._fire(t, t, "nonfinite_loss", f"d_loss={d_loss}, g_loss={g_loss} at iteration {t}")
            return None
        self.d_window.append(d_loss)
        if len(self.d_window) < c.loss_window:
            return None
        m = sum(self.d_window) / len(self.d_window)
        while self.d_means and self.d_means[0][0] <= t - c.loss_lookback:
            self.d_means.popleft()
        low = min((v for _, v in self.d_means), default=None)
        self.d_means.append((t, m))
        if c.d_loss_jump > 0 and low is not None and self._armed(t) \
                and m >= c.d_loss_jump * low and m - low >= c.d_loss_margin and m >= c.d_loss_level:
            return self._fire(t, t, "d_loss_jump",
                              f"D loss (mean of {c.loss_window} its) rose to {m:.4g} from a minimum of {low:.4g} "
                              f"in the previous {c.loss_lookback} iterations (>= {c.d_loss_jump}x, "
                              f"+{c.d_loss_margin}, level {c.d_loss_level})")
        return None

    def observe_sigmas(self, t: int, sigma0: Mapping[str, float]) -> Collapse | None:
        """G's top singular value per layer at a spectrum check."""
        if self.collapse:
            return None
        c = self.cfg
        bad = [k for k, v in sigma0.items() if not math.isfinite(v)]
        if bad:
            if c.nonfinite:
                return self._fire(t, t, "nonfinite_sigma", f"sigma0 of G layer {bad[0]} is {sigma0[bad[0]]}")
            return None
        found = None
        for layer, v in sigma0.items():
            past = self.sigmas.setdefault(layer, [])
            if c.sigma_factor > 0 and past and self._armed(t):
                med = statistics.median(past)
                if med > 0 and v / med >= c.sigma_factor and (found is None or v / med > found[1]):
                    found = (layer, v / med, med, v)
            past.append(float(v))
            del past[:-c.sigma_history]
        if found:
            layer, r, med, v = found
            return self._fire(t, t, "sigma", f"sigma0 of G layer {layer} is {v:.4g}, {r:.3g}x the median "
                                             f"({med:.4g}) of its previous {c.sigma_history} checks")
        return None

    def observe_fid(self, t: int, fid: float) -> Collapse | None:
        if self.collapse:
            return None
        c = self.cfg
        if not math.isfinite(fid):
            if c.nonfinite:
                return self._fire(t, t, "nonfinite_fid", f"FID is {fid} at iteration {t}")
            return None
        rule_on = c.fid_factor > 0 and c.fid_patience > 0
        if rule_on and self.fid_best is not None and fid > c.fid_factor * self.fid_best and self._armed(t):
            if self.fid_bad_count == 0:
                self.fid_bad_since = t
            self.fid_bad_count += 1
            if self.fid_bad_count >= c.fid_patience:
                return self._fire(self.fid_bad_since, t, "fid",
                                  f"FID above {c.fid_factor} x best ({self.fid_best:.4g}) for "
                                  f"{self.fid_bad_count} consecutive evaluations, from iteration "
                                  f"{self.fid_bad_since} to {t} (last {fid:.4g})")
            return None
        self.fid_bad_count, self.fid_bad_since = 0, None
        self.fid_best = fid if self.fid_best is None else min(self.fid_best, fid)
        return None

    def state_dict(self) -> dict:
        return {"collapse": asdict(self.collapse) if self.collapse else None, "fid_best": self.fid_best,
                "fid_bad_since": self.fid_bad_since, "fid_bad_count": self.fid_bad_count,
                "d_window": list(self.d_window), "d_means": [list(x) for x in self.d_means],
                "sigmas": {k: list(v) for k, v in self.sigmas.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.collapse = Collapse(**state["collapse"]) if state["collapse"] else None
        self.fid_best = state["fid_best"]
        self.fid_bad_since = state["fid_bad_since"]
        self.fid_bad_count = state["fid_bad_count"]
        self.d_window = deque(state["d_window"], maxlen=self.cfg.loss_window)
        self.d_means = deque((int(t), float(v)) for t, v in state["d_means"])
        self.sigmas = {k: list(v) for k, v in state["sigmas"].items()}
