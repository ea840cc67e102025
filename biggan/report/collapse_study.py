"""The collapse study (section 4 in miniature): one row per configuration, signatures per run.

For every run of `collapse_study:` the train files give the detector's verdict (iteration,
rule, detail), the best scores before collapse, and two signatures around the collapse
iteration c (or around the end of a stable run, for comparison):

    sigma0   max over G's layers of sigma0 in (c, c + after], against the median of that max
             over the last `history` checks at or before c  (figure 3a: G's spectra explode)
    D loss   mean D loss in (c, c + after], against the lowest D loss logged in the
             `lookback` iterations before c             (appendix F: D's loss jumps up)
"""
from __future__ import annotations

import statistics

from biggan.report.collect import RunRecord
from biggan.report.tables import Table, fmt, mean_std

AFTER = 100        # iterations after the collapse the signatures look at


def role(r: RunRecord) -> str:
    t = r.spec.train
    if t.r1_gamma > 0:
        return f"R1 gamma={t.r1_gamma:g}"
    if t.sigma_clamp.mode != "off":
        return f"sigma clamp ({t.sigma_clamp.mode} {t.sigma_clamp.value:g})"
    return "baseline"


def _g_max(row: dict) -> float | None:
    vals = [v for k, v in row.items() if k.startswith("G/") and isinstance(v, (int, float))]
    return max(vals) if vals else None


def signatures(r: RunRecord) -> dict:
    """sigma0 and D-loss figures around the collapse (or the end) of one run."""
    cfg = r.spec.train.collapse
    c = r.train["collapse_iteration"] if r.train.get("collapsed") else r.train["iterations_done"]
    sig = [(row["iteration"], _g_max(row)) for row in r.history("sigma0") if _g_max(row) is not None]
    before = [v for t, v in sig if t <= c][-cfg.sigma_history:]
    after = [v for t, v in sig if c < t <= c + AFTER] or [v for t, v in sig if t == c]
    losses = [(row["iteration"], row["d_loss"]) for row in r.history("losses") if row.get("d_loss") is not None]
    d_before = [v for t, v in losses if c - cfg.loss_lookback <= t <= c]
    d_after = [v for t, v in losses if c < t <= c + AFTER]
    s_med = statistics.median(before) if before else None
    s_max = max(after) if after else None
    d_min = min(d_before) if d_before else None
    d_mean = statistics.fmean(d_after) if d_after else None
    return {"at": c, "sigma_before": s_med, "sigma_after": s_max,
            "sigma_ratio": s_max / s_med if s_med and s_max is not None else None,
            "d_loss_before": d_min, "d_loss_after": d_mean,
            "d_loss_ratio": d_mean / d_min if d_min and d_mean is not None else None}


def study_table(groups: dict[str, list[RunRecord]]) -> Table:
    t = Table("collapse", "Collapse study: section 4 in miniature (unstable baseline, R1, sigma clamp)",
              ["Configuration", "Role", "Collapsed", "Itr", "Rule(s)", "FID before collapse",
               "IS before collapse", "G sigma0 around collapse", "D loss around collapse", "Seeds"])
    for variant, runs in groups.items():
        sigs = [signatures(r) for r in runs]
        collapsed = [r for r in runs if r.train.get("collapsed")]
        rules = sorted({r.train["collapse_rule"] for r in collapsed})
        fids = [r.train.get("fid_best") for r in runs]
        iss = [r.train.get("is_at_fid_best") for r in runs]
        itrs = [r.train["collapse_iteration"] for r in collapsed]
        t.rows.append({
            "Configuration": runs[0].spec.info.label or variant, "Role": role(runs[0]),
            "Collapsed": f"{len(collapsed)}/{len(runs)}",
            "Itr": fmt(itrs, 0) if itrs else f"stable to {min(r.train['stable_to'] for r in runs)}",
            "Rule(s)": ", ".join(rules) or "-", "FID before collapse": fmt(fids), "IS before collapse": fmt(iss),
            "G sigma0 around collapse": _around(sigs, "sigma_before", "sigma_after"),
            "D loss around collapse": _around(sigs, "d_loss_before", "d_loss_after"), "Seeds": str(len(runs))})
        t.data.append({"variant": variant, "role": role(runs[0]), "seeds": [r.spec.seed for r in runs],
                       "collapsed": [bool(r.train.get("collapsed")) for r in runs],
                       "collapse_iterations": [r.train.get("collapse_iteration") for r in runs],
                       "rules": [r.train.get("collapse_rule") for r in runs],
                       "details": [r.train.get("collapse_detail") for r in runs],
                       "fid_best": fids, "is_at_fid_best": iss, "fid": mean_std(fids)[:2],
                       "signatures": sigs, "sources": [s for r in runs for s in r.sources]})
    t.notes = [f"Itr: iteration at which the detector declared collapse (mean ± std over the seeds that "
               f"collapsed); the rule that fired first is listed.",
               "FID/IS before collapse: the best evaluation of G_ema before collapse (the paper early-stops).",
               f"G sigma0: median of max-over-layers sigma0 over the last checks up to the collapse -> its "
               f"maximum in the {AFTER} iterations after (stable runs: around their last iteration).",
               f"D loss: lowest logged D loss in the look-back before the collapse -> mean over the {AFTER} "
               f"iterations after."]
    return t


def _around(sigs: list[dict], before: str, after: str) -> str:
    pairs = [(s[before], s[after]) for s in sigs if s[before] is not None and s[after] is not None]
    if not pairs:
        return "n/a"
    return "; ".join(f"{a:.3g} -> {b:.3g}" for a, b in pairs)
