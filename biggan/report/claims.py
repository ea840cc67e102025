"""The paper's claims, each with our small-scale measurement, the test applied and a verdict.

Verdicts: reproduced / not reproduced / inconclusive (biggan.report.stats). A verdict never
rests on a difference smaller than the spread across seeds: two groups of runs are compared by
their seeds' order (exact one-sided Mann-Whitney test at 5 %, >= 3 seeds per group: with 3
each, every seed of one group beyond every seed of the other), paired gains by their mean
against twice its standard error; anything weaker is "inconclusive", so a rerun on another CPU
(whose numerics differ) keeps the verdicts even where the digits move. The order, not the
mean, because a seed that fails on one CPU and not on another moves a mean and its standard
error far more than the order. Each claim is judged on the runs that can show it: truncation
on trained models only (`sweep.trained_is_fraction`), each truncation gain against the
spread of that model's own sweep seeds; the collapse claims on runs that learned before they
collapsed (biggan.report.collapse_claims). Every number comes from the run files the tables read.
"""
from __future__ import annotations

from biggan.report import stats
from biggan.report.claim import Groups, claim, f3, missing
from biggan.report.collapse_claims import collapse_claims
from biggan.report.collect import RunRecord
from biggan.report.stats import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED


def _by_row(groups: Groups, row: str) -> tuple[str, list[RunRecord]] | None:
    return next(((v, rs) for v, rs in groups.items() if row in rs[0].spec.info.paper_rows), None)


def _fids(runs: list[RunRecord], entry: str = "no_trunc") -> list:
    return [(r.sweep.get(entry) or {}).get("fid") for r in runs]


def _iss(runs: list[RunRecord], entry: str = "no_trunc") -> list:
    return [(r.sweep.get(entry) or {}).get("is") for r in runs]


_RANK_TEST = (f"seed by seed: exact one-sided Mann-Whitney test at 5 % over >= {stats.MIN_SEEDS} seeds each "
              "(with 3 each: every seed of one group beyond every seed of the other)")


def _rank_data(rt: stats.RankTest) -> dict:
    return {"u": rt.u, "p_greater": rt.p_greater, "p_less": rt.p_less, "n": list(rt.n)}


def batch_claim(groups: Groups) -> dict:
    text, paper = "Larger batches improve FID", "Table 1 rows 1-3: FID 15.30 / 14.88 / 12.39 at batch 512 / 1024 / 2048"
    rows = [_by_row(groups, r) for r in ("t1:b512", "t1:b1024", "t1:b2048")]
    if rows[0] is None or rows[2] is None:
        return missing("batch", text, paper, "no variants with paper rows t1:b512 and t1:b2048")
    means = [(rs[0].spec.train.batch_size, stats.mean(_fids(rs)), len(rs)) for _, rs in filter(None, rows)]
    small, large = _fids(rows[0][1]), _fids(rows[2][1])
    c, rt = stats.compare(small, large), stats.ranks(small, large)
    monotone = all(a[1] is not None and b[1] is not None and a[1] > b[1] for a, b in zip(means, means[1:]))
    measured = ", ".join(f"B={b}: FID {m:.1f} ({n} seeds)" for b, m, n in means if m is not None)
    measured += f"; monotone in the means: {'yes' if monotone else 'no'}"
    return claim("batch", text, paper, measured + f"; {c.text()}",
                 f"the smallest batch's FIDs above the largest batch's, {_RANK_TEST} ({rt.text()})",
                 rt.direction(want_greater=True), {"means": means, "diff": c.diff, "se": c.se, **_rank_data(rt)})


def width_claim(groups: Groups) -> dict:
    text, paper = "Wider networks improve FID", "Table 1 row 4: ch 64 -> 96 at batch 2048: FID 12.39 -> 9.54"
    narrow, wide = _by_row(groups, "t1:b2048"), _by_row(groups, "t1:b2048_ch96")
    if narrow is None or wide is None:
        return missing("width", text, paper, "no variants with paper rows t1:b2048 and t1:b2048_ch96")
    c, rt = stats.compare(_fids(narrow[1]), _fids(wide[1])), stats.ranks(_fids(narrow[1]), _fids(wide[1]))
    chs = (narrow[1][0].spec.model.ch, wide[1][0].spec.model.ch)
    measured = (f"ch {chs[0]}: FID {f3(stats.mean(_fids(narrow[1])))} ({len(narrow[1])} seeds); "
                f"ch {chs[1]}: FID {f3(stats.mean(_fids(wide[1])))} ({len(wide[1])} seeds); {c.text()}")
    return claim("width", text, paper, measured,
                 f"the narrow model's FIDs above the wide model's, {_RANK_TEST} ({rt.text()})",
                 rt.direction(want_greater=True), {"diff": c.diff, "se": c.se, **_rank_data(rt)})


Curve = dict[object, dict[int, dict]]      # RunRecord.sweep_points: threshold -> sweep seed -> point


def _gain(pts: Curve, a, b, key: str) -> stats.Comparison:
    """Paired over the sweep seeds both points share: key at b minus key at a."""
    seeds = sorted(set(pts[a]) & set(pts[b]))
    return stats.paired([pts[b][s][key] - pts[a][s][key] for s in seeds])


def _mean(pts: Curve, t, key: str) -> float:
    v = [p[key] for p in pts[t].values()]
    return sum(v) / len(v)


def trained(r: RunRecord) -> bool:
    """The sweep's own criterion (sweep.trained_is_fraction of the real images' IS, untruncated)."""
    return bool(r.sweep.get("trained"))


def _untrained_text(r: RunRecord) -> str:
    free = (r.sweep.get("no_trunc") or {}).get("is")
    return f"{r.variant} s{r.spec.seed} (IS {f3(free)} vs real {f3(r.sweep.get('valid_is_real'))})"


def truncation_claims(groups: Groups) -> list[dict]:
    """Every trained model of the run, whatever its table: IS must rise as the threshold falls and FID
    be U-shaped, each judged per model against the spread of its sweep seeds."""
    everyone = [r for rs in groups.values() for r in rs if r.sweep_rows]
    runs = [r for r in everyone if trained(r)]
    left = [_untrained_text(r) for r in everyone if not trained(r)]
    c_is, c_fid = ("Truncation: IS rises monotonically as the threshold falls",
                   "Truncation: FID is U-shaped, its minimum at an intermediate threshold")
    paper_is, paper_fid = "Figure 4(a), Table 2", "Figure 4(a), Table 2 (min FID at thresholds between 0.5 and 2)"
    frac = next((r.sweep.get("trained_is_fraction") for r in everyone if r.sweep.get("trained_is_fraction")), None)
    scope = (f"{len(runs)} trained models (untruncated IS >= {f3(frac)} x the real images'; {len(left)} others left "
             f"out{': ' + ', '.join(left) if left else ''})")
    if len(runs) < stats.MIN_SEEDS:
        what = f"fewer than {stats.MIN_SEEDS} trained models: {scope}"
        return [missing("truncation_is", c_is, paper_is, what), missing("truncation_fid", c_fid, paper_fid, what)]
    is_rows, fid_rows, lowers = [], [], []
    for r in runs:
        order, pts = r.sweep_points()
        if len(order) < 3 or order[0] is not None:
            continue
        means = [_mean(pts, t, "is_mean") for t in order]
        rho = stats.spearman(list(range(len(order))), means)
        g_is = _gain(pts, None, order[-1], "is_mean")
        if g_is.diff is not None and g_is.diff < 0:
            lowers.append(r.spec.run_name)
        is_rows.append({"run": r.spec.run_name, "rho": rho, "gain": g_is.diff, "se": g_is.se,
                        "shown": rho is not None and rho >= 0.8 and g_is.direction(True) == REPRODUCED})
        fids = [_mean(pts, t, "fid") for t in order]
        best = min(range(len(order)), key=lambda i: fids[i])
        vs_none = _gain(pts, order[best], None, "fid")               # FID(none) - FID(min): > 0 is a gain
        vs_end = _gain(pts, order[best], order[-1], "fid")
        gains = [_gain(pts, t, None, "fid").direction(True) == REPRODUCED for t in order[1:]]
        # "no gain" needs a sweep that resolves differences: the smallest threshold's FID clearly above none's
        judged = _gain(pts, None, order[-1], "fid").direction(True) == REPRODUCED
        fid_rows.append({"run": r.spec.run_name, "min_at": order[best], "gain": vs_none.diff, "se": vs_none.se,
                         "u_shaped": 0 < best < len(order) - 1 and vs_none.direction(True) == REPRODUCED
                         and vs_end.direction(True) == REPRODUCED,
                         "no_gain": judged and not any(gains)})
    n, seeds = len(is_rows), sorted({len(r.sweep_points()[1].get(None, {})) for r in runs})
    v1 = REPRODUCED if n >= stats.MIN_SEEDS and all(x["shown"] for x in is_rows) else \
        NOT_REPRODUCED if n >= stats.MIN_SEEDS and all(x["gain"] is not None and x["gain"] < 0 for x in is_rows) \
        else INCONCLUSIVE
    v2 = REPRODUCED if n >= stats.MIN_SEEDS and all(x["u_shaped"] for x in fid_rows) else \
        NOT_REPRODUCED if n >= stats.MIN_SEEDS and all(x["no_gain"] for x in fid_rows) else INCONCLUSIVE
    per_is = "; ".join(f"{x['run']}: rho {f3(x['rho'])}, gain {f3(x['gain'])} ± {f3(2 * x['se'] if x['se'] else None)}"
                       for x in is_rows)
    per_fid = "; ".join(f"{x['run']}: min at {'none' if x['min_at'] is None else x['min_at']}, none - min "
                        f"{f3(x['gain'])} ± {f3(2 * x['se'] if x['se'] else None)}" for x in fid_rows)
    spread = f"sweep seeds per model: {', '.join(str(s) for s in seeds)}"
    return [claim("truncation_is", c_is, paper_is,
                  f"{scope}; {spread}; per model (IS gain at the smallest threshold ± 2 SE over sweep seeds): {per_is}"
                  + (f"; truncation lowers IS in {', '.join(lowers)}" if lowers else ""),
                  f"in every trained model (>= {stats.MIN_SEEDS}) Spearman rho(falling threshold, mean IS) >= 0.8 and "
                  "the IS gain at the smallest threshold beyond 2 SE of its sweep seeds; not reproduced if truncation "
                  "lowers IS in every one", v1, {"runs": is_rows, "untrained": left, "lowers_is": lowers}),
            claim("truncation_fid", c_fid, paper_fid, f"{scope}; {spread}; per model: {per_fid}",
                  f"in every trained model (>= {stats.MIN_SEEDS}) the minimum mean FID is at an intermediate threshold, "
                  "beyond 2 SE (over sweep seeds) below both no truncation and the smallest threshold; not reproduced "
                  "if in every one no threshold improves on no truncation by 2 SE while the smallest threshold is "
                  "2 SE worse (the sweep resolves the curve)", v2,
                  {"runs": fid_rows, "untrained": left})]


def amenable(r: RunRecord) -> bool | None:
    """Some truncated threshold lowers FID beyond 2 SE of the sweep seeds and raises mean IS."""
    order, pts = r.sweep_points()
    if None not in pts or len(order) < 2:
        return None
    return any(_gain(pts, t, None, "fid").direction(True) == REPRODUCED
               and _mean(pts, t, "is_mean") > _mean(pts, None, "is_mean") for t in order[1:])


def ortho_claim(groups: Groups) -> dict:
    """Trained models only, with and without ortho reg at the same iterations."""
    claim_ = "Orthogonal regularisation makes more models amenable to truncation"
    paper = "Section 3.1: 60% of models with ortho reg vs 16% without"
    runs = [r for rs in groups.values() for r in rs if r.sweep_rows and trained(r)]
    by_its: dict[int, dict[bool, list]] = {}
    for r in runs:
        a = amenable(r)
        if a is not None:
            by_its.setdefault(r.spec.train.iterations, {True: [], False: []})[r.spec.train.ortho.enabled].append(a)
    its = [i for i, f in sorted(by_its.items()) if f[True] and f[False]]
    seen = "; ".join(f"{i} iterations: {sum(f[True])}/{len(f[True])} with, {sum(f[False])}/{len(f[False])} without"
                     for i, f in sorted(by_its.items()))
    if not its:
        return missing("ortho", claim_, paper, "needs trained models with and without ortho reg at the same "
                                               f"iterations; trained models amenable to truncation: {seen or 'none'}")
    with_, without = [a for i in its for a in by_its[i][True]], [a for i in its for a in by_its[i][False]]
    (ka, na), (kb, nb) = (sum(with_), len(with_)), (sum(without), len(without))
    p_more, p_less = stats.fisher_greater(ka, na, kb, nb), stats.fisher_greater(kb, nb, ka, na)
    verdict = REPRODUCED if p_more < 0.05 else NOT_REPRODUCED if p_less < 0.05 else INCONCLUSIVE
    return claim("ortho", claim_, paper, f"trained models amenable to truncation: {seen}",
                 "amenable = some truncated threshold lowers FID beyond 2 SE of the sweep seeds and raises IS; trained "
                 f"models at equal iterations; one-sided Fisher exact test at 5% (p = {p_more:.3g} for more with "
                 f"ortho, {p_less:.3g} for fewer)", verdict,
                 {"with": [ka, na], "without": [kb, nb], "p_more": p_more, "p_less": p_less, "iterations": its})


def _twin(groups: Groups, r1: list[RunRecord]) -> tuple[str, list[RunRecord]] | None:
    """The variant trained exactly like `r1` but with gamma 0 (same model, data and iterations)."""
    s = r1[0].spec
    want = s.train.model_copy(update={"r1_gamma": 0.0})
    return next(((v, rs) for v, rs in groups.items() if rs[0].spec.train.r1_gamma == 0
                 and rs[0].spec.train == want and rs[0].spec.model == s.model
                 and rs[0].spec.dataset_name == s.dataset_name), None)


def r1_cost_claim(groups: Groups) -> dict:
    claim_, paper = "R1 costs FID/IS", "Section 4.2: with gamma = 10, IS drops by 45%"
    r1 = [(v, rs) for v, rs in groups.items() if rs[0].spec.train.r1_gamma > 0]
    pair = next(((v, rs, _twin(groups, rs)) for v, rs in r1 if _twin(groups, rs)), None)
    if pair is None:
        return missing("r1_cost", claim_, paper, "needs a variant with R1 and its twin without (same model, data "
                                                 "and iterations)")
    v, rs, (bv, brs) = pair
    f_r1, f_b, i_r1, i_b = _fids(rs), _fids(brs), _iss(rs), _iss(brs)
    rt_f, rt_i = stats.ranks(f_r1, f_b), stats.ranks(i_r1, i_b)
    d_f, d_i = rt_f.direction(want_greater=True), rt_i.direction(want_greater=False)
    verdict = (REPRODUCED if d_f == REPRODUCED and d_i == REPRODUCED
               else NOT_REPRODUCED if NOT_REPRODUCED in (d_f, d_i) else INCONCLUSIVE)
    gamma, its = rs[0].spec.train.r1_gamma, rs[0].spec.train.iterations
    untrained = [_untrained_text(r) for r in rs + brs if not trained(r)]
    return claim("r1_cost", claim_, paper,
                 f"{v} (gamma {gamma:g}) against {bv} (gamma 0), {its} iterations each, untruncated sweep scores: "
                 f"FID {f3(stats.mean(f_r1))} vs {f3(stats.mean(f_b))} ({stats.compare(f_r1, f_b).text()}), IS "
                 f"{f3(stats.mean(i_r1))} vs {f3(stats.mean(i_b))} ({stats.compare(i_r1, i_b).text()})"
                 + (f"; untrained: {', '.join(untrained)}" if untrained else ""),
                 f"on a configuration that trains well, R1's FIDs above and its ISs below gamma 0's, each {_RANK_TEST} "
                 f"(FID {rt_f.text()}; IS {rt_i.text()}); not reproduced if either is significantly the other way",
                 verdict, {"variant": v, "twin": bv, "fid": [f_r1, f_b], "is": [i_r1, i_b],
                           "fid_test": _rank_data(rt_f), "is_test": _rank_data(rt_i)})


def claims(groups: Groups, study: Groups) -> list[dict]:
    return [batch_claim(groups), width_claim(groups), *truncation_claims(groups), ortho_claim(groups),
            r1_cost_claim(groups), *collapse_claims(study, groups)]


def markdown(items: list[dict]) -> str:
    lines = ["## The paper's claims at small scale", "",
             "| Claim | Paper | Measured (this run) | Test | Verdict |", "|---|---|---|---|---|"]
    for c in items:
        lines.append(f"| {c['claim']} | {c['paper']} | {c['measured']} | {c['test']} | **{c['verdict']}** |")
    counts = {k: sum(c["verdict"] == k for c in items) for k in (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)}
    lines += ["", f"- {counts[REPRODUCED]} reproduced, {counts[NOT_REPRODUCED]} not reproduced, "
                  f"{counts[INCONCLUSIVE]} inconclusive; written by the tables stage from the run files "
                  "(results/claims.json has the numbers).",
              f"- A verdict needs >= {stats.MIN_SEEDS} seeds per group: groups of runs are compared seed by "
              "seed (every seed of one beyond every seed of the other, with 3 each), paired gains beyond twice "
              "their standard error, so no verdict hinges on a difference smaller than the spread across seeds."]
    return "\n".join(lines) + "\n"
