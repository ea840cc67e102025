"""The paper's section-4 claims, judged on the collapse study's runs (biggan.report.collapse_study).

Only a collapse counts as one: a run whose outcome is "collapse" (a generator that learned
first, then broke: biggan.train.collapse). A run that failed to train, a dead D or non-finite
values are evidence of nothing the paper claims about collapse, and a claim short of runs
that can show it is "inconclusive", saying which runs it lacked.
"""
from __future__ import annotations

from biggan.report import stats
from biggan.report.claim import Groups, claim, f3, missing
from biggan.report.collapse_study import role, signatures
from biggan.report.collect import RunRecord
from biggan.report.stats import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED

# D overfitting, after section 4.2 (98 % on training images, 50-55 % held out at collapse)
OVERFIT_TRAIN, OVERFIT_VAL = 0.9, 0.7


def _study(study: Groups, kind: str) -> list[tuple[str, list[RunRecord]]]:
    return [(v, rs) for v, rs in study.items() if role(rs[0]).startswith(kind)]


def _outcome(r: RunRecord) -> str:
    return r.train.get("outcome") or "stable"


def _is(r: RunRecord, what: str) -> bool:
    return _outcome(r) == what


def _labels(rs: list[RunRecord]) -> str:
    return ", ".join(f"s{r.spec.seed}: {_outcome(r)}" + (f" at {r.train['collapse_iteration']}"
                                                          if _is(r, "collapse") else "")
                     for r in rs)


def d_loss_jumped(sig: dict, cfg) -> bool:
    """D's loss around a collapse, judged by the detector's own rule (biggan.train.collapse)."""
    before, after = sig["d_loss_before"], sig["d_loss_after"]
    if before is None or after is None:
        return False
    return after >= cfg.d_loss_jump * before and after - before >= cfg.d_loss_margin and after >= cfg.d_loss_level


def overfit(sig: dict) -> bool:
    a, b = sig.get("d_acc_train"), sig.get("d_acc_val")
    return a is not None and b is not None and a >= OVERFIT_TRAIN and b <= OVERFIT_VAL


def signature_claim(base) -> dict:
    c_col = "Collapse: G's top singular values grow sharply and D's loss spikes at collapse, which is detected"
    p_col = "Sections 4.1, 4.2, figure 3, appendix F"
    if not base:
        return missing("collapse", c_col, p_col, "no baseline configuration in collapse_study")
    v, rs = base[0]
    cfg = rs[0].spec.train.collapse
    sigs = [signatures(r) for r in rs]
    col = [_is(r, "collapse") for r in rs]
    sig_ok = [s["sigma_ratio"] is not None and s["sigma_ratio"] >= cfg.sigma_factor for s in sigs]
    shown = [c and a and d_loss_jumped(s, cfg) for c, a, s in zip(col, sig_ok, sigs)]
    every = len(rs) >= stats.MIN_SEEDS and all(col)
    verdict = (REPRODUCED if every and all(shown) else NOT_REPRODUCED if every and not any(shown)
               else INCONCLUSIVE)
    kinds = [r.train.get("collapse_kind") for r in rs if _is(r, "collapse")]
    return claim("collapse", c_col, p_col,
                 f"{v} ({_labels(rs)}): collapses {sum(col)}/{len(rs)}, {kinds.count('sudden')} sudden and "
                 f"{kinds.count('gradual')} gradual; both signs on {sum(shown)}/{len(rs)}; G sigma0 (max over "
                 f"weights) x{', x'.join(f3(s['sigma_ratio']) for s in sigs)}; D loss "
                 f"{'; '.join(_arrow(s, 'd_loss') for s in sigs)} around each onset",
                 f"every seed (>= {stats.MIN_SEEDS}) collapses after learning, and around each onset G's max sigma0 "
                 f"over its weights rises >= {cfg.sigma_factor:g}x its recent median and D's loss passes the "
                 f"detector's jump rule (>= {cfg.d_loss_jump:g}x and +{cfg.d_loss_margin:g} over its recent minimum, "
                 f"level >= {cfg.d_loss_level:g}); not reproduced if every seed collapses and none shows both; "
                 f"inconclusive if a seed does not collapse",
                 verdict, {"variant": v, "outcomes": [_outcome(r) for r in rs], "signature_shown": shown,
                           "signatures": sigs, "kinds": kinds})


def overfit_claim(study: Groups, base) -> dict:
    """Which kind of collapse this scale produces, measured: the paper's (D overfits, sudden) or not."""
    c = "Collapse is sudden and follows D overfitting its training set"
    p = "Section 4.2: D 98 % accurate on training images, 50-55 % on validation images, at collapse"
    runs = [r for rs in study.values() for r in rs]
    cols = [r for r in runs if _is(r, "collapse")]
    if not runs:
        return missing("d_overfit", c, p, "no collapse_study runs")
    sigs = {id(r): signatures(r) for r in runs}
    shown = [overfit(sigs[id(r)]) and r.train.get("collapse_kind") == "sudden" for r in cols]
    verdict = (INCONCLUSIVE if len(cols) < stats.MIN_SEEDS else REPRODUCED if all(shown)
               else NOT_REPRODUCED if not any(shown) else INCONCLUSIVE)
    per = "; ".join(f"{r.variant} s{r.spec.seed} {r.train.get('collapse_kind')}, D acc. {_acc_pair(sigs[id(r)])}"
                    for r in cols)
    over = base[1:]                          # the alternative baselines (collapse_study's order)
    extra = ""
    for v, rs in over:
        acc = ", ".join(_acc_pair(sigs[id(r)]) for r in rs)
        extra += (f"; {v} ({_labels(rs)}): best FID {', '.join(f3(r.train.get('fid_best')) for r in rs)}, D loss "
                  f"after the warm-up {', '.join(_d_range(r) for r in rs)}, D acc. train / held-out at its end {acc}")
    calm = [sigs[id(r)] for r in runs if _is(r, "stable")]
    if calm:
        extra += (f"; runs that learned and did not collapse, at their end: D acc. "
                  f"{', '.join(_acc_pair(x) for x in calm)}")
    return claim("d_overfit", c, p,
                 f"{len(cols)} collapse(s) over the study: {per or 'none'}; {sum(shown)} of the paper's kind" + extra,
                 f"every collapse (>= {stats.MIN_SEEDS}) is sudden with D's accuracy >= {OVERFIT_TRAIN:.0%} on its "
                 f"training images and <= {OVERFIT_VAL:.0%} held out at the last evaluation before the onset; not "
                 f"reproduced if none is", verdict,
                 {"collapses": [r.spec.run_name for r in cols], "paper_kind": shown,
                  "signatures": {r.spec.run_name: sigs[id(r)] for r in runs}})


def _d_range(r: RunRecord) -> str:
    """Lowest and highest logged D loss from the detector's warm-up on."""
    w = r.spec.train.collapse.warmup
    v = [row["d_loss"] for row in r.history("losses") if row["iteration"] >= w and row.get("d_loss") is not None]
    return f"{min(v):.2f}-{max(v):.2f}" if v else "n/a"


def _arrow(sig: dict, key: str) -> str:
    return f"{f3(sig[key + '_before'])} -> {f3(sig[key + '_after'])}"


def _acc_pair(sig: dict) -> str:
    """D's accuracy on training / held-out images."""
    return f"{_pct(sig.get('d_acc_train'))} / {_pct(sig.get('d_acc_val'))}"


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def r1_prevents_claim(study: Groups, base) -> dict:
    c_prev, paper_prev = "R1 with a large gamma prevents collapse", "Section 4.2: gamma = 10 stabilises training"
    r1 = sorted(_study(study, "R1"), key=lambda x: x[1][0].spec.train.r1_gamma)
    if not r1 or not base:
        return missing("r1", c_prev, paper_prev, "needs a baseline and an R1 configuration in collapse_study")
    (v, rs), (bv, brs) = r1[-1], base[0]
    gamma = rs[0].spec.train.r1_gamma
    # an R1 run that did not collapse is evidence only up to the iterations it trained: past every
    # baseline onset plus its detection lag
    horizon = min(r.train.get("iterations_done") or 0 for r in rs)
    base_col = [_is(r, "collapse") for r in brs]
    needed = max((r.train.get("collapse_detected_at") or 0) for r in brs)
    r1_col = [_is(r, "collapse") for r in rs]
    r1_ok = [_is(r, "stable") for r in rs]            # learned, and no collapse within the horizon
    enough = len(rs) >= stats.MIN_SEEDS and len(brs) >= stats.MIN_SEEDS
    if not enough or not all(base_col):
        verdict = INCONCLUSIVE
    elif all(r1_col):
        verdict = NOT_REPRODUCED
    elif all(r1_ok) and horizon >= needed:
        verdict = REPRODUCED
    else:
        verdict = INCONCLUSIVE
    return claim("r1", c_prev, paper_prev,
                 f"baseline ({_labels(brs)}), trained to {', '.join(str(r.train['iterations_done']) for r in brs)}; "
                 f"gamma {gamma:g} ({_labels(rs)}), trained to {horizon} (the last baseline collapse detected at "
                 f"{needed})",
                 f"every baseline seed collapses, no seed with the largest gamma does and each learned, and the R1 runs "
                 f"train past every baseline onset plus its detection lag (>= {stats.MIN_SEEDS} seeds each); not "
                 f"reproduced if every R1 seed collapses", verdict,
                 {"variant": v, "baseline": bv, "baseline_outcomes": [_outcome(r) for r in brs],
                  "r1_outcomes": [_outcome(r) for r in rs], "r1_horizon": horizon, "needed": needed})


def clamp_claim(study: Groups, base) -> dict:
    """Counts only clamped generators that learned: one that never trained cannot show that the clamp
    fails to prevent a collapse. Judged against the baseline's collapse rate (Fisher exact test)."""
    claim_ = "Clamping G's sigma0 does not prevent collapse"
    paper = "Section 4.1: clamping sigma0 (fixed, or relative to sigma1) delays nothing reliably; collapse still occurs"
    cl = _study(study, "sigma clamp")
    if not cl or not base:
        return missing("clamp", claim_, paper, "needs a baseline and a sigma-clamp configuration in collapse_study")
    (v, rs), (bv, brs) = cl[0], base[0]
    learned = [r for r in rs if _outcome(r) in ("collapse", "stable")]
    base_l = [r for r in brs if _outcome(r) in ("collapse", "stable")]
    k, n = sum(_is(r, "collapse") for r in learned), len(learned)
    kb, nb = sum(_is(r, "collapse") for r in base_l), len(base_l)
    p_prevents = stats.fisher_greater(kb, nb, k, n) if n and nb else 1.0
    if min(n, nb) < stats.MIN_SEEDS:
        verdict = INCONCLUSIVE
    elif p_prevents <= 0.05:
        verdict = NOT_REPRODUCED
    elif k / n >= kb / nb and 2 * k > n:
        verdict = REPRODUCED
    else:
        verdict = INCONCLUSIVE
    return claim("clamp", claim_, paper,
                 f"{v} ({_labels(rs)}, best FID {', '.join(f3(r.train.get('fid_best')) for r in rs)}): {n} learned, "
                 f"{k} of them collapsed; baseline {kb}/{nb}",
                 f"only clamped runs that learned count (>= {stats.MIN_SEEDS}, else inconclusive); reproduced if they "
                 f"collapse at least as often as the baseline's and in most seeds; not reproduced if the baseline "
                 f"collapses more often, one-sided Fisher exact test at 5% (p = {p_prevents:.3g})",
                 verdict, {"variant": v, "baseline": bv, "outcomes": [_outcome(r) for r in rs],
                           "baseline_outcomes": [_outcome(r) for r in brs], "learned": n, "p_prevents": p_prevents})


def earlier_claim(groups: Groups) -> dict:
    claim_ = "Larger models and batches collapse earlier"
    paper = "Table 1 'Itr': 1000k (B=512) -> 732k (B=2048) -> 295k (ch 96)"
    rows = [(v, rs) for v, rs in groups.items() if 1 in rs[0].spec.info.tables]
    if not rows:
        return missing("earlier", claim_, paper, "no variant lists Table 1")
    collapsed = {v: [r.train["collapse_iteration"] for r in rs if _is(r, "collapse")] for v, rs in rows}
    if not any(collapsed.values()):
        horizon = min((r.train["iterations_done"] for _, rs in rows for r in rs), default=0)
        return claim("earlier", claim_, paper, f"no Table 1 run collapsed within its {horizon} iterations",
                     "needs collapses in Table 1 rows to compare their iterations", INCONCLUSIVE, {})
    shown = "; ".join(f"{v}: {its}" for v, its in collapsed.items() if its)
    return claim("earlier", claim_, paper, f"collapse iterations: {shown}",
                 "reported, not tested: too few Table 1 rows collapse within the budget", INCONCLUSIVE,
                 {"collapse_iterations": collapsed})


def collapse_claims(study: Groups, groups: Groups) -> list[dict]:
    base = _study(study, "baseline")
    return [signature_claim(base), overfit_claim(study, base), r1_prevents_claim(study, base), clamp_claim(study, base),
            earlier_claim(groups)]
