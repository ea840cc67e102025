"""Collapse detection: rules over the metric history of one training run, after the paper.

Section 4 of the paper finds collapse sudden. In healthy training D's loss sits near zero
(D wins on its training set); at collapse it jumps UP sharply (4.2, appendix F). G's top
singular values grow over a few checks and then explode (4.1, figure 3), and sample quality
falls off a cliff. The paper early-stops and reports the best scores before collapse ("Itr"
in Table 1 = iteration of collapse). The rules (`train.collapse`; each off with 0 / false):

    nonfinite_loss   a D or G loss is NaN or +-inf.        iteration = that iteration
    nonfinite_fid    an FID is NaN or +-inf.                iteration = that evaluation
    nonfinite_sigma  a G layer's sigma0 is NaN or +-inf.    iteration = that check
    dead_d           D's loss within dead_d_tolerance of 2 (hinge loss of an output ~0) on
                     dead_d_iterations consecutive iterations.   iteration = the first of them
    d_loss_jump      m_t >= d_loss_jump * min(m), m_t - min(m) >= d_loss_margin and
                     m_t >= d_loss_level, where m_t is D's loss averaged over the last
                     loss_window iterations and min(m) its minimum over the last
                     loss_lookback iterations.   iteration = t
    sigma            s_t >= sigma_factor * median of the previous sigma_history checks, where
                     s_t = max over G's conv and linear weights of sigma0 (`weight_sigma0`;
                     BatchNorm's class-conditional gain/bias tables are left out: they are not
                     the weights whose spectra the paper tracks).   iteration = t
    fid              FID_t > fid_factor * min_{s<t} FID_s for fid_patience consecutive
                     evaluations.   iteration = the first of them (the onset), detected at the last

A collapse needs a generator that learned first: d_loss_jump, sigma and fid are armed only
from `warmup` iterations on AND once the best FID so far is <= `learned_fid` (when set). How a
run ends (`outcome`): "collapse" (one of those three), "dead D", "non-finite", else "failed to
train" (never learned) or "stable". A collapse is "sudden" (the sigma and D-loss rules, and an
FID that passes fid_factor x its best within `sudden_evals` evaluations of that best) or
"gradual" (an FID climb over more evaluations). The first rule that fires wins; later
observations change nothing. Plain Python (no torch): unit-tested on synthetic histories and
on the committed runs' traces, and `state_dict()` travels in checkpoints.
"""
from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import asdict, dataclass
from typing import Mapping

from biggan.config.train import CollapseConfig
from biggan.spectra import weight_sigma0


NONFINITE = ("nonfinite_loss", "nonfinite_fid", "nonfinite_sigma")
COLLAPSE_RULES = ("d_loss_jump", "sigma", "fid")
OUTCOMES = ("collapse", "failed to train", "dead D", "non-finite", "stable")
@dataclass(frozen=True)
class Collapse:
    iteration: int        # onset: the iteration the run is declared collapsed at
    detected_at: int      # when the rule fired (later than `iteration` for the fid rule)
    rule: str             # one of NONFINITE, dead_d or COLLAPSE_RULES
    detail: str
    kind: str = ""        # sudden | gradual (COLLAPSE_RULES only)


def outcome(collapse: Collapse | None, fid_best: float | None, cfg: CollapseConfig) -> str:
    """How a run ended, one of OUTCOMES."""
    if collapse is not None:
        if collapse.rule in NONFINITE:
            return "non-finite"
        return "dead D" if collapse.rule == "dead_d" else "collapse"
    if cfg.learned_fid and (fid_best is None or fid_best > cfg.learned_fid):
        return "failed to train"
    return "stable"


class CollapseMonitor:
    def __init__(self, cfg: CollapseConfig):
        self.cfg = cfg
        self.collapse: Collapse | None = None
        self.fid_best: float | None = None
        self.fid_bad_since: int | None = None    # first iteration of the current run of bad evaluations
        self.fid_bad_count = 0
        self.d_window: deque[float] = deque(maxlen=cfg.loss_window)
        self.d_means: deque[tuple[int, float]] = deque()      # (t, windowed mean) over the lookback
        self.sigmas: list[float] = []          # weight_sigma0 over the last sigma_history checks
        self.dead_since: int | None = None     # first of the current run of dead-D iterations
        self.fid_climb = 0                     # evaluations since the best FID
        self.climb_at_onset = 0

    @property
    def collapsed(self) -> bool:
        return self.collapse is not None

    def _fire(self, iteration: int, detected_at: int, rule: str, detail: str, kind: str = "") -> Collapse:
        self.collapse = Collapse(iteration, detected_at, rule, detail, kind)
        return self.collapse

    @property
    def learned(self) -> bool:
        lf = self.cfg.learned_fid
        return not lf or (self.fid_best is not None and self.fid_best <= lf)

    def _armed(self, t: int) -> bool:
        return t >= self.cfg.warmup and self.learned

    def observe_losses(self, t: int, d_loss: float, g_loss: float) -> Collapse | None:
        """One training iteration's D and G losses."""
        if self.collapse:
            return None
        c = self.cfg
        if not (math.isfinite(d_loss) and math.isfinite(g_loss)):
            if c.nonfinite:
                return self._fire(t, t, "nonfinite_loss", f"d_loss={d_loss}, g_loss={g_loss} at iteration {t}")
            return None
        if c.dead_d_iterations:
            if abs(d_loss - 2.0) <= c.dead_d_tolerance:
                self.dead_since = t if self.dead_since is None else self.dead_since
                if t - self.dead_since + 1 >= c.dead_d_iterations:
                    return self._fire(self.dead_since, t, "dead_d",
                                      f"D loss within {c.dead_d_tolerance} of 2 (D's output ~0) on every "
                                      f"iteration from {self.dead_since} to {t}")
            else:
                self.dead_since = None
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
                              f"+{c.d_loss_margin}, level {c.d_loss_level})", "sudden")
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
        v = weight_sigma0(sigma0)
        if v is None:
            return None
        past = self.sigmas
        fired = None
        if c.sigma_factor > 0 and past and self._armed(t):
            med = statistics.median(past)
            if med > 0 and v / med >= c.sigma_factor:
                fired = self._fire(t, t, "sigma", f"max sigma0 over G's conv/linear weights is {v:.4g}, "
                                                  f"{v / med:.3g}x the median ({med:.4g}) of its previous "
                                                  f"{c.sigma_history} checks", "sudden")
        past.append(float(v))
        del past[:-c.sigma_history]
        return fired

    def observe_fid(self, t: int, fid: float) -> Collapse | None:
        if self.collapse:
            return None
        c = self.cfg
        if not math.isfinite(fid):
            if c.nonfinite:
                return self._fire(t, t, "nonfinite_fid", f"FID is {fid} at iteration {t}")
            return None
        rule_on = c.fid_factor > 0 and c.fid_patience > 0
        self.fid_climb += 1
        if rule_on and self.fid_best is not None and fid > c.fid_factor * self.fid_best and self._armed(t):
            if self.fid_bad_count == 0:
                self.fid_bad_since, self.climb_at_onset = t, self.fid_climb
            self.fid_bad_count += 1
            if self.fid_bad_count >= c.fid_patience:
                kind = "sudden" if self.climb_at_onset <= c.sudden_evals else "gradual"
                return self._fire(self.fid_bad_since, t, "fid",
                                  f"FID above {c.fid_factor} x best ({self.fid_best:.4g}) for "
                                  f"{self.fid_bad_count} consecutive evaluations, from iteration "
                                  f"{self.fid_bad_since} to {t} (last {fid:.4g}); {self.climb_at_onset} "
                                  f"evaluation(s) from the best to the onset: {kind}", kind)
            return None
        self.fid_bad_count, self.fid_bad_since = 0, None
        if self.fid_best is None or fid < self.fid_best:
            self.fid_best, self.fid_climb = fid, 0
        return None

    def state_dict(self) -> dict:
        return {"collapse": asdict(self.collapse) if self.collapse else None, "fid_best": self.fid_best,
                "fid_bad_since": self.fid_bad_since, "fid_bad_count": self.fid_bad_count,
                "d_window": list(self.d_window), "d_means": [list(x) for x in self.d_means],
                "sigmas": list(self.sigmas), "dead_since": self.dead_since, "fid_climb": self.fid_climb,
                "climb_at_onset": self.climb_at_onset}

    def load_state_dict(self, state: dict) -> None:
        self.collapse = Collapse(**state["collapse"]) if state["collapse"] else None
        self.fid_best = state["fid_best"]
        self.fid_bad_since = state["fid_bad_since"]
        self.fid_bad_count = state["fid_bad_count"]
        self.d_window = deque(state["d_window"], maxlen=self.cfg.loss_window)
        self.d_means = deque((int(t), float(v)) for t, v in state["d_means"])
        self.sigmas = list(state["sigmas"]) if isinstance(state["sigmas"], list) else []
        self.dead_since = state.get("dead_since")
        self.fid_climb = state.get("fid_climb", 0)
        self.climb_at_onset = state.get("climb_at_onset", 0)


def replay(cfg: CollapseConfig, losses: list[dict], sigma0: list[dict], evals: list[dict],
           log_every: int = 1) -> CollapseMonitor:
    """A monitor fed a run's recorded history in the loop's order (per iteration: losses, then the
    spectrum check, then the evaluation). `losses` rows are means over `log_every` iterations
    (the run's CSV), each fed once per iteration it covers, so the D-loss rules see the logged
    means, not every step; sigma0 rows ('G/<layer>' columns) and evals are exact."""
    mon = CollapseMonitor(cfg)
    by_t = {"s": {int(r["iteration"]): r for r in sigma0}, "e": {int(r["iteration"]): r for r in evals}}
    rows = sorted(losses, key=lambda r: int(r["iteration"]))
    last = max([int(r["iteration"]) for r in rows] + list(by_t["s"]) + list(by_t["e"]) + [0])
    i = 0
    for t in range(0, last + 1):
        while i < len(rows) and int(rows[i]["iteration"]) < t:
            i += 1
        if t > 0 and i < len(rows) and int(rows[i]["iteration"]) - log_every < t:
            mon.observe_losses(t, float(rows[i]["d_loss"]), float(rows[i]["g_loss"]))
        if t in by_t["s"]:
            mon.observe_sigmas(t, {k[2:]: float(v) for k, v in by_t["s"][t].items() if k.startswith("G/")})
        if t in by_t["e"]:
            mon.observe_fid(t, float(by_t["e"][t]["fid"]))
        if mon.collapsed:
            break
    return mon
