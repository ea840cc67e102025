"""The collapse study (section 4 in miniature): one row per configuration, signatures per run.

For every run of `collapse_study:` the train files give how it ended (`outcome`: collapse,
failed to train, dead D, non-finite, stable; biggan.train.collapse), the detector's iteration,
rule, kind (sudden / gradual) and detail, the best scores before collapse, and signatures
around the collapse onset c (or the end of a run that did not collapse, for comparison):

    sigma0   s = max over G's conv and linear weights of sigma0 (the detector's statistic,
             `weight_sigma0`): its maximum in (c, c + after] against its median over the last
             `sigma_history` checks at or before c                (figure 3a: G's spectra explode)
    D loss   mean D loss in (c, c + after] against the lowest D loss logged in the
             `lookback` iterations before c                     (appendix F: D's loss jumps up)
    D acc.   D's accuracy on its training images and on held-out ones at the last evaluation
             at or before c                          (section 4.2: 98 % against 50-55 % at collapse)
"""
from __future__ import annotations

import statistics

from biggan.report.collect import RunRecord
from biggan.report.tables import Table, fmt
from biggan.spectra import weight_sigma0

AFTER = 100        # iterations after the collapse the signatures look at


def role(r: RunRecord) -> str:
    t = r.spec.train
    if t.r1_gamma > 0:
        return f"R1 gamma={t.r1_gamma:g}"
    if t.sigma_clamp.mode != "off":
        return f"sigma clamp ({t.sigma_clamp.mode} {t.sigma_clamp.value:g})"
    return "baseline"         # the first of collapse_study's is the claims' baseline, others alternatives


def g_weights_max(row: dict) -> float | None:
    """weight_sigma0 of one sigma0 CSV row ('G/<layer>' columns)."""
    return weight_sigma0({k[2:]: v for k, v in row.items() if k.startswith("G/") and isinstance(v, (int, float))})


def onset(r: RunRecord) -> int:
    """The collapse onset, else the last iteration trained."""
    return r.train["collapse_iteration"] if r.train.get("collapsed") else r.train["iterations_done"]


def signatures(r: RunRecord) -> dict:
    """sigma0, D-loss and D-accuracy figures around the collapse (or the end) of one run."""
    cfg = r.spec.train.collapse
    c = onset(r)
    sig = [(row["iteration"], g_weights_max(row)) for row in r.history("sigma0")]
    sig = [(t, v) for t, v in sig if v is not None]
    before = [v for t, v in sig if t <= c][-cfg.sigma_history:]
    after = [v for t, v in sig if c < t <= c + AFTER] or [v for t, v in sig if t == c]
    losses = [(row["iteration"], row["d_loss"]) for row in r.history("losses") if row.get("d_loss") is not None]
    d_before = [v for t, v in losses if c - cfg.loss_lookback <= t <= c]
    d_after = [v for t, v in losses if c < t <= c + AFTER]
    evals = [e for e in r.history("evals") if e["iteration"] <= c and e.get("d_acc_train") is not None]
    s_med = statistics.median(before) if before else None
    s_max = max(after) if after else None
    d_min = min(d_before) if d_before else None
    d_mean = statistics.fmean(d_after) if d_after else None
    return {"at": c, "sigma_before": s_med, "sigma_after": s_max,
            "sigma_ratio": s_max / s_med if s_med and s_max is not None else None,
            "d_loss_before": d_min, "d_loss_after": d_mean,
            "d_loss_ratio": d_mean / d_min if d_min and d_mean is not None else None,
            "d_acc_train": evals[-1]["d_acc_train"] if evals else None,
            "d_acc_val": evals[-1].get("d_acc_val") if evals else None}


def outcomes(runs: list[RunRecord]) -> str:
    counts: dict[str, int] = {}
    for r in runs:
        o = r.train.get("outcome") or ("collapse" if r.train.get("collapsed") else "stable")
        if o == "collapse" and r.train.get("collapse_kind"):
            o = f"collapse ({r.train['collapse_kind']})"
        counts[o] = counts.get(o, 0) + 1
    return ", ".join(f"{k} {n}/{len(runs)}" for k, n in counts.items())


def study_table(groups: dict[str, list[RunRecord]]) -> Table:
    t = Table("collapse", "Collapse study: section 4 in miniature (unstable baseline, R1, sigma clamp, D overfitting)",
              ["Configuration", "Role", "Outcome", "Onset (detected)", "Rule", "Best FID before", "IS at best",
               "G sigma0 around onset", "D loss around onset", "D acc. train / held-out", "Trained to", "Seeds"])
    first = next((v for v, rs in groups.items() if role(rs[0]) == "baseline"), None)
    for variant, runs in groups.items():
        sigs = [signatures(r) for r in runs]
        kind = role(runs[0]) if role(runs[0]) != "baseline" or variant == first else "alternative baseline"
        fids = [r.train.get("fid_best") for r in runs]
        iss = [r.train.get("is_at_fid_best") for r in runs]
        stops = [r for r in runs if r.train.get("collapse_rule")]
        t.rows.append({
            "Configuration": runs[0].spec.info.label or variant, "Role": kind, "Outcome": outcomes(runs),
            "Onset (detected)": "; ".join(f"{r.train['collapse_iteration']} ({r.train['collapse_detected_at']})"
                                          for r in stops) or "-",
            "Rule": ", ".join(sorted({r.train["collapse_rule"] for r in stops})) or "-",
            "Best FID before": fmt(fids), "IS at best": fmt(iss),
            "G sigma0 around onset": _around(sigs, "sigma_before", "sigma_after"),
            "D loss around onset": _around(sigs, "d_loss_before", "d_loss_after"),
            "D acc. train / held-out": "; ".join(_acc(s) for s in sigs),
            "Trained to": ", ".join(str(r.train["iterations_done"]) for r in runs), "Seeds": str(len(runs))})
        t.data.append({"variant": variant, "role": kind, "seeds": [r.spec.seed for r in runs],
                       "outcomes": [r.train.get("outcome") for r in runs],
                       "collapsed": [bool(r.train.get("collapsed")) for r in runs],
                       "kinds": [r.train.get("collapse_kind") for r in runs],
                       "collapse_iterations": [r.train.get("collapse_iteration") for r in runs],
                       "detected_at": [r.train.get("collapse_detected_at") for r in runs],
                       "rules": [r.train.get("collapse_rule") for r in runs],
                       "details": [r.train.get("collapse_detail") for r in runs],
                       "iterations_done": [r.train.get("iterations_done") for r in runs],
                       "fid_best": fids, "is_at_fid_best": iss, "signatures": sigs,
                       "sources": [s for r in runs for s in r.sources]})
    cfg = next(iter(groups.values()))[0].spec.train.collapse if groups else None
    t.notes = [
        "Outcome (biggan.train.collapse): a collapse needs a generator that learned first (best FID <= "
        f"{cfg.learned_fid:g}, train.collapse.learned_fid); a run that never gets there 'failed to train'; "
        "'dead D' and 'non-finite' are their own labels. A collapse is sudden (the sigma or D-loss rule, or FID "
        f"past {cfg.fid_factor:g}x its best within {cfg.sudden_evals} evaluation(s) of that best) or gradual "
        "(an FID climb over more evaluations)." if cfg else "",
        "Onset (detected): the iteration the collapse is dated at and the one its rule fired at.",
        "Best FID / IS: the best evaluation of G_ema before the onset (the paper early-stops).",
        f"G sigma0: max over G's conv and linear weights (the detector's statistic), median over the last checks "
        f"up to the onset -> its maximum in the {AFTER} iterations after (runs without a collapse: around their "
        f"last iteration).",
        f"D loss: lowest logged D loss in the look-back before the onset -> mean over the {AFTER} iterations after.",
        "D acc.: D(x, y) > 0 on its training images / on held-out images of the same split's validation part, at "
        "the last evaluation up to the onset (the paper: 98 % / 50-55 % at collapse).",
        "Seeds: those of params.yaml's collapse_study; the configuration was chosen on other seeds (docs/study.md)."]
    t.notes = [n for n in t.notes if n]
    return t


def _acc(s: dict) -> str:
    a, b = s.get("d_acc_train"), s.get("d_acc_val")
    return "n/a" if a is None else f"{a:.0%} / {'n/a' if b is None else f'{b:.0%}'}"


def _around(sigs: list[dict], before: str, after: str) -> str:
    pairs = [(s[before], s[after]) for s in sigs if s[before] is not None and s[after] is not None]
    if not pairs:
        return "n/a"
    return "; ".join(f"{a:.3g} -> {b:.3g}" for a, b in pairs)
