"""Tables 1-3 of the paper from our runs, with the published numbers beside them.

Conventions (also printed under each table):
  * a cell is mean +/- std over the seeds of a variant (sample std, ddof=1; "+/- 0" is not
    printed for a single seed);
  * Table 1's FID/IS are the sweep's untruncated point of the model each run hands out (the
    best G_ema before collapse, as the paper early-stops); Itr is the collapse iteration, or
    "stable to N" when no seed collapsed;
  * Table 2's four FID/IS pairs are the sweep summaries: no truncation, at min FID, at the
    threshold whose IS is closest to the real validation images' IS, at max IS;
  * Table 3's rows are Table 1's columns plus the min-FID and max-IS pairs.
Published numbers are from ImageNet/JFT at 128-512 px and are there for orientation only: our
default runs digits at 16-32 px with a digits feature network, so no cell compares directly.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from biggan.report.collect import RunRecord
from biggan.paper.tables import PAPER_ROWS


@dataclass
class Table:
    name: str
    title: str
    columns: list[str]
    rows: list[dict] = field(default_factory=list)     # column -> display string
    data: list[dict] = field(default_factory=list)     # machine-readable, with sources
    notes: list[str] = field(default_factory=list)


def mean_std(values: list[float | None]) -> tuple[float | None, float | None, int]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None, 0
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else None), len(vals)


def fmt(values: list[float | None], digits: int = 2) -> str:
    m, s, n = mean_std(values)
    if m is None:
        return "n/a"
    return f"{m:.{digits}f}" if s is None else f"{m:.{digits}f} ± {s:.{digits}f}"


def check(flag: bool | None) -> str:
    return "" if flag is None else ("✓" if flag else "")


def itr_cell(runs: list[RunRecord]) -> tuple[str, dict]:
    """Collapse onsets (mean ± std), 'stable to N' for runs that learned and did not collapse, and
    the other outcomes (failed to train, dead D, non-finite) counted with the iterations they reached."""
    collapsed = [r.train["collapse_iteration"] for r in runs if r.train.get("collapsed")]
    groups: dict[str, list[int]] = {}
    for r in runs:
        if not r.train.get("collapsed"):
            groups.setdefault(r.train.get("outcome") or "stable", []).append(r.train["iterations_done"])
    doc = {"collapse_iterations": collapsed, "stable_to": groups.get("stable", []),
           "outcomes": [r.train.get("outcome") for r in runs]}
    parts = [fmt(collapsed, 0) + (f" ({len(collapsed)}/{len(runs)} collapsed)" if len(collapsed) < len(runs) else "")] \
        if collapsed else []
    if "stable" in groups:
        parts.append(f"stable to {min(groups['stable'])}")
    parts += [f"{k} {len(v)}/{len(runs)} (by {max(v)})" for k, v in groups.items() if k != "stable"]
    return "; ".join(parts), doc


def entry(runs: list[RunRecord], key: str) -> tuple[list, list, list]:
    """(fid values, is values, thresholds) of one sweep-summary entry over seeds; an entry the
    sweep could not fill (e.g. valid_is without a validation split) counts as missing."""
    es = [r.sweep.get(key) or {} for r in runs]
    return [e.get("fid") for e in es], [e.get("is") for e in es], [e.get("threshold") for e in es]


def pair(fids: list, iss: list) -> str:
    return f"{fmt(fids)} / {fmt(iss)}"


def paper_pair(p: dict, key: str) -> str:
    v = p.get(key)
    return "" if v is None else f"{v[0]} / {v[1]}"


def _paper(key: str | None) -> dict:
    return PAPER_ROWS.get(key, {}) if key else {}


def _pm(p: dict, k: str) -> str:
    """A published value with its std over seeds where the paper gives one (key 'is_' -> 'is_std')."""
    if k not in p:
        return ""
    std = p.get(k.rstrip("_") + "_std")
    return f"{p[k]} ± {std}" if std is not None else f"{p[k]}"


def switches(r: RunRecord) -> dict:
    m, t = r.spec.model, r.spec.train
    return {"batch": t.batch_size, "ch": m.ch, "shared": m.shared, "skip_z": m.hier, "ortho": t.ortho.enabled,
            "resolution": m.resolution}


def variants_of(groups: dict[str, list[RunRecord]], table: int):
    """(variant, its runs, first run, published row) of every variant listed in `table`."""
    for variant, runs in groups.items():
        r0 = runs[0]
        if table in r0.spec.info.tables:
            yield variant, runs, r0, _paper(r0.spec.info.paper_row_for(table))


def ours(groups: dict[str, list[RunRecord]], table: int) -> str:
    """What this table's runs were trained and scored on, read from their specs."""
    specs = [r0.spec for _, _, r0, _ in variants_of(groups, table)]
    if not specs:
        return "no runs"
    res = "/".join(str(r) for r in sorted({s.model.resolution for s in specs}))
    return (f"{', '.join(sorted({s.dataset_name for s in specs}))} at {res} px, scored with the "
            f"{', '.join(sorted({s.eval.feature_net for s in specs}))} feature network")


def model_cells(variant: str, r0: RunRecord) -> dict:
    """The columns Tables 1 and 3 share: the model and its switches."""
    sw = switches(r0)
    return {"Variant": r0.spec.info.label or variant, "Ch.": str(sw["ch"]), "Param (M)": f"{r0.train['params_m']:.4f}",
            "Shared": check(sw["shared"]), "Skip-z": check(sw["skip_z"]), "Ortho.": check(sw["ortho"])}


def row_doc(variant: str, runs: list[RunRecord], r0: RunRecord, table: int, p: dict) -> dict:
    """The machine-readable part every table row has: identity, switches, seeds and sources."""
    return {"variant": variant, "paper_row": r0.spec.info.paper_row_for(table), **switches(r0),
            "params_m": r0.train["params_m"], "seeds": [r.spec.seed for r in runs],
            "sources": [s for r in runs for s in r.sources], "paper": p}


def table1(groups: dict[str, list[RunRecord]]) -> Table:
    t = Table("table1", "Table 1: ablations (published: ImageNet 128x128)",
              ["Variant", "Batch", "Ch.", "Param (M)", "Shared", "Skip-z", "Ortho.", "Itr", "FID", "IS", "Seeds",
               "Paper: Batch", "Paper: Ch.", "Paper: Param (M)", "Paper: Itr ×10³", "Paper: FID", "Paper: IS"])
    for variant, runs, r0, p in variants_of(groups, 1):
        fids, iss, _ = entry(runs, "no_trunc")
        itr, itr_doc = itr_cell(runs)
        t.rows.append({
            **model_cells(variant, r0), "Batch": str(r0.spec.train.batch_size),
            "Itr": itr, "FID": fmt(fids), "IS": fmt(iss), "Seeds": str(len(runs)),
            "Paper: Batch": str(p.get("batch", "")), "Paper: Ch.": str(p.get("ch", "")),
            "Paper: Param (M)": str(p.get("params_m", "")), "Paper: Itr ×10³": _pm(p, "itr_k"),
            "Paper: FID": _pm(p, "fid"), "Paper: IS": _pm(p, "is_")})
        t.data.append({**row_doc(variant, runs, r0, 1, p), "itr": itr_doc, "fid": mean_std(fids)[:2],
                       "is": mean_std(iss)[:2], "fid_runs": fids, "is_runs": iss})
    t.notes = ["FID/IS: untruncated samples of the G_ema each run hands out (best FID before collapse), "
               "mean ± sample std over seeds.",
               "Itr: the onset of a collapse (of a generator that had learned: best FID <= train.collapse."
               "learned_fid), or 'stable to N' (the paper's 'stable to 10⁶'); a run that never got there is "
               "counted as 'failed to train', never as a collapse.",
               f"Published numbers: ImageNet 128x128 with the TF Inception network; ours: {ours(groups, 1)}. "
               "Compare trends, not values."]
    return t


def table2(groups: dict[str, list[RunRecord]], real: dict[str, dict]) -> Table:
    t = Table("table2", "Table 2: resolutions x truncation (FID / IS)",
              ["Model", "Res.", "No truncation", "Min FID", "Valid IS", "Max IS", "Real val IS", "Seeds",
               "Paper: model", "Paper: No truncation", "Paper: Min FID", "Paper: Valid IS", "Paper: Max IS"])
    left = []
    for variant, runs, r0, p in variants_of(groups, 2):
        if any(r.sweep.get("trained") is False for r in runs):     # every row a trained model
            left.append(f"{r0.spec.info.label or variant} (untruncated IS "
                        f"{', '.join(fmt([(r.sweep.get('no_trunc') or {}).get('is')]) for r in runs)} against the "
                        f"real images' {fmt([r0.sweep.get('valid_is_real')])})")
            continue
        cells, doc = {}, {}
        for key, col in (("no_trunc", "No truncation"), ("min_fid", "Min FID"), ("valid_is", "Valid IS"),
                         ("max_is", "Max IS")):
            fids, iss, th = entry(runs, key)
            cells[col] = pair(fids, iss) + ("" if key == "no_trunc" else f" @ {_thresholds(th)}")
            doc[key] = {"fid": mean_std(fids)[:2], "is": mean_std(iss)[:2], "thresholds": th}
        val = real.get(r0.spec.dataset_name, {})
        t.rows.append({"Model": r0.spec.info.label or variant, "Res.": str(r0.spec.model.resolution), **cells,
                       "Real val IS": f"{val['val_is_mean']:.2f}" if "val_is_mean" in val else "n/a",
                       "Seeds": str(len(runs)),
                       "Paper: model": f"{p['model']} {p['res']}" if p else "",
                       "Paper: No truncation": paper_pair(p, "no_trunc"), "Paper: Min FID": paper_pair(p, "min_fid"),
                       "Paper: Valid IS": paper_pair(p, "valid_is"), "Paper: Max IS": paper_pair(p, "max_is")})
        t.data.append({**row_doc(variant, runs, r0, 2, p), **doc, "real_val_is": val.get("val_is_mean")})
    spaces = sorted({r.sweep.get("pr_features") or "n/a" for _, runs, _, _ in variants_of(groups, 2) for r in runs})
    t.notes = ["Each cell: FID / IS (mean ± sample std over seeds) @ truncation threshold(s) (the thresholds "
               "chosen per seed).",
               f"Precision/recall of every sweep point (metrics/sweep/<variant>/s<seed>.csv) are measured in the "
               f"feature space {', '.join(spaces)} (eval.pr_features; the published metric uses VGG-16 fc2).",
               "Valid IS: the threshold whose IS is closest to the IS of the real validation images of the "
               "model's dataset (column 'Real val IS').",
               "Truncation: z resampled until every |z_i| <= threshold (the paper's convention); each point the "
               "mean over the sweep seeds of a trained model (metrics/sweep/<variant>/s<seed>.json: sweep_seeds).",
               "Every row is a trained model (untruncated IS >= sweep.trained_is_fraction x the real images'); "
               + (f"left out as untrained: {'; '.join(left)}." if left else "none was left out.")
               + " The 32 px and BigGAN-deep rows are not trained by the default: at its budget both stayed "
               "untrained (docs/study.md); configs/ has their presets.",
               f"Published: ImageNet at 128/256/512 px; ours: {ours(groups, 2)}."]
    return t


def table3(groups: dict[str, list[RunRecord]], real: dict[str, dict]) -> Table:
    t = Table("table3", "Table 3: JFT-style multi-label data (digits stand-in)",
              ["Variant", "Ch.", "Param (M)", "Shared", "Skip-z", "Ortho.", "FID", "IS", "Min FID (FID / IS)",
               "Max IS (FID / IS)", "Seeds", "Paper: Ch.", "Paper: Param (M)", "Paper: FID / IS",
               "Paper: Min FID", "Paper: Max IS"])
    for variant, runs, r0, p in variants_of(groups, 3):
        fids, iss, _ = entry(runs, "no_trunc")
        mf, mx = entry(runs, "min_fid"), entry(runs, "max_is")
        t.rows.append({
            **model_cells(variant, r0), "FID": fmt(fids), "IS": fmt(iss), "Min FID (FID / IS)": pair(mf[0], mf[1]),
            "Max IS (FID / IS)": pair(mx[0], mx[1]), "Seeds": str(len(runs)),
            "Paper: Ch.": str(p.get("ch", "")), "Paper: Param (M)": str(p.get("params_m", "")),
            "Paper: FID / IS": f"{p['fid']} / {p['is_']}" if p else "",
            "Paper: Min FID": paper_pair(p, "min_fid"), "Paper: Max IS": paper_pair(p, "max_is")})
        t.data.append({**row_doc(variant, runs, r0, 3, p), "fid": mean_std(fids)[:2], "is": mean_std(iss)[:2],
                       "min_fid": {"fid": mean_std(mf[0])[:2], "is": mean_std(mf[1])[:2]},
                       "max_is": {"fid": mean_std(mx[0])[:2], "is": mean_std(mx[1])[:2]}})
    datasets = sorted({runs[0].spec.dataset_name for runs in groups.values() if 3 in runs[0].spec.info.tables})
    for ds in datasets:
        v = real.get(ds, {})
        if "val_is_mean" in v:
            t.notes.append(f"Real validation images of {ds}: IS {v['val_is_mean']:.2f}, FID {v['val_fid']:.2f} "
                           f"(paper, JFT-300M validation: IS 50.88, FID 1.94).")
    t.notes += ["The multi-label stand-in: digits with several labels each (one label drawn per draw); a "
                "stand-in for JFT-300M, labelled as such.",
                "FID/IS: untruncated; Min FID / Max IS: over the truncation sweep; mean ± sample std over seeds."]
    return t


def _thresholds(th: list) -> str:
    uniq = sorted({"none" if x is None else x for x in th}, key=str)
    return ", ".join(str(x) for x in uniq)
