"""Truncation sweep of a trained generator, and the four Table 2 entries it yields.

One sweep point per threshold (plus "no truncation" when `sweep.untruncated`): `num_samples`
samples with z drawn by `biggan.sampling.truncation` (the paper's convention: every
component with |z_i| > threshold is resampled; threshold 0 means z = 0), y uniform over the
classes, scored by a `biggan.metrics.Scorer` (IS mean/std, FID, its imaginary residue,
precision, recall).

BatchNorm always runs in eval mode. `bn_stats`:
  * running  -- the running statistics stored with G (those of the training-time G_ema);
  * standing -- as in the paper's sampling: before each point the BN statistics are reset and
    replaced by their average over `standing_passes` no-grad forward passes of batches drawn
    with that point's truncation (`biggan.ema.standing_stats`).
The caller's G is never modified (standing statistics go into a private copy).

Within one sweep seed every point uses that seed for its samples (common random numbers: the
curve over thresholds is smoother than with independent draws); standing-statistics batches
come from a separate, equally seeded stream. A trained model (untruncated IS >= `sweep.
trained_is_fraction` x the real validation images') is swept once per `sweep.seeds`, so that a
difference between thresholds can be judged against the sweep's own spread; the others once.
The Table 2 entries come from the per-threshold means over the sweep seeds.

Table 2 of the paper reports per model the FID/IS without truncation, at the truncation with
the best FID, at the truncation whose IS matches the IS of the real validation data, and at
the truncation with the highest IS: `summarize`.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from tqdm import tqdm

from biggan.config.evaluation import SweepConfig
from biggan.ema import standing_stats
from biggan.sampling.truncation import truncated_normal

if TYPE_CHECKING:
    from biggan.metrics.scorer import Scorer

METRIC_KEYS = ("is_mean", "is_std", "fid", "fid_imag", "precision", "recall", "n")
MEAN_KEYS = ("is_mean", "fid", "precision", "recall")
TIMING_KEYS = ("generation_s", "standing_s", "features_s", "metrics_s", "wall_s")
# the sweep CSV: `threshold` is empty for the untruncated point, `truncated` says which one it is
CSV_COLUMNS = ["threshold", "truncated", "sweep_seed", *METRIC_KEYS]
ENTRIES = ("no_trunc", "min_fid", "valid_is", "max_is")
STANDING_SEED_OFFSET = 1_000_003        # standing-statistics stream: seed + this


def sweep_thresholds(cfg: SweepConfig) -> list[float | None]:
    """The sweep's points in order: None (untruncated) first when enabled, then the thresholds."""
    return ([None] if cfg.untruncated else []) + [float(t) for t in cfg.thresholds]


def label(threshold: float | None) -> str:
    return "none" if threshold is None else f"{threshold:g}"


class LatentStream:
    """Seeded (z, y) batches at one truncation threshold, on the generator's device."""

    def __init__(self, dim_z: int, n_classes: int, threshold: float | None, seed: int,
                 device: torch.device | str = "cpu"):
        self.dim_z, self.n_classes, self.threshold, self.device = dim_z, n_classes, threshold, device
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        z = truncated_normal((b, self.dim_z), self.threshold, self.gen)
        y = torch.randint(0, self.n_classes, (b,), generator=self.gen)
        return z.to(self.device), y.to(self.device)


def _device_of(G: torch.nn.Module) -> torch.device:
    p = next(G.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def prepare_bn(G: torch.nn.Module, threshold: float | None, cfg: SweepConfig, batch_size: int,
               seed: int | None = None) -> float:
    """Put G in eval mode with the statistics of `cfg.bn_stats` for this threshold; -> seconds."""
    device = _device_of(G)
    t0 = time.perf_counter()
    seed = cfg.seeds[0] if seed is None else seed
    if cfg.bn_stats == "standing":
        stream = LatentStream(G.dim_z, G.n_classes, threshold, seed + STANDING_SEED_OFFSET, device)
        standing_stats(G, lambda: stream(batch_size), cfg.standing_passes)
        _sync(device)
    G.eval()
    return time.perf_counter() - t0


@torch.no_grad()
def score_point(G: torch.nn.Module, scorer: "Scorer", threshold: float | None, num_samples: int, seed: int,
                batch_size: int) -> dict:
    """Score `num_samples` samples of G (as it is: BN prepared by the caller) at one threshold.

    -> the scorer's metrics plus generation_s (latent draws + G forward passes), features_s (the rest of the
    extraction: quantisation and the feature network) and metrics_s (IS, FID, precision/recall).
    """
    from biggan.metrics.scorer import generated

    device = _device_of(G)
    stream = LatentStream(G.dim_z, G.n_classes, threshold, seed, device)
    spent = {"gen": 0.0}

    def sample_fn(b: int) -> torch.Tensor:
        t = time.perf_counter()
        x = G(*stream(b))
        _sync(device)
        spent["gen"] += time.perf_counter() - t
        return x

    t0 = time.perf_counter()
    feats = scorer.extract(generated(sample_fn, num_samples, batch_size), total=num_samples,
                           desc=f"t={label(threshold)}")
    t1 = time.perf_counter()
    scores = scorer.score_features(feats)
    t2 = time.perf_counter()
    return {**scores, "generation_s": spent["gen"], "features_s": t1 - t0 - spent["gen"], "metrics_s": t2 - t1}


def run_sweep(G: torch.nn.Module, scorer: "Scorer", cfg: SweepConfig, *, batch_size: int | None = None,
              standing_batch_size: int | None = None, progress: bool = True,
              log: Callable[[str], None] | None = None, seed: int | None = None) -> list[dict]:
    """The sweep with one sweep seed (default: the first of cfg.seeds); -> one row per point, in
    `sweep_thresholds(cfg)` order: {threshold (None = untruncated), truncated, sweep_seed, is_mean,
    is_std, fid, fid_imag, precision, recall, n, generation_s, standing_s, features_s, metrics_s, wall_s}.

    batch_size: samples per G forward pass (default: the scorer's); standing_batch_size: batch
    of each standing-statistics pass (default: batch_size).
    """
    batch_size = batch_size or scorer.batch_size
    seed = cfg.seeds[0] if seed is None else seed
    standing_batch_size = standing_batch_size or batch_size
    work = copy.deepcopy(G).eval().requires_grad_(False) if cfg.bn_stats == "standing" else G
    was_training = G.training
    G.eval()
    rows = []
    bar = tqdm(sweep_thresholds(cfg), desc=f"truncation sweep ({cfg.bn_stats} BN)", unit="point",
               disable=not progress)
    try:
        for t in bar:
            bar.set_postfix_str(f"t={label(t)}")
            t0 = time.perf_counter()
            standing_s = prepare_bn(work, t, cfg, standing_batch_size, seed)
            point = score_point(work, scorer, t, cfg.num_samples, seed, batch_size)
            row = {"threshold": t, "truncated": t is not None, "sweep_seed": seed, **{k: point[k] for k in METRIC_KEYS},
                   "generation_s": point["generation_s"], "standing_s": standing_s,
                   "features_s": point["features_s"], "metrics_s": point["metrics_s"],
                   "wall_s": time.perf_counter() - t0}
            rows.append(row)
            if log:
                log(f"t={label(t):>5}: IS {row['is_mean']:.3f} +- {row['is_std']:.3f}  FID {row['fid']:.3f}  "
                    f"P {row['precision']:.3f}  R {row['recall']:.3f}  ({row['wall_s']:.1f} s)")
    finally:
        bar.close()
        G.train(was_training)
    return rows


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def _entry(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {"threshold": row["threshold"], "fid": row["fid"], "is": row["is_mean"]}


def summarize(rows: Sequence[dict], valid_is: float | None) -> dict[str, dict | None]:
    """The four Table 2 entries of a sweep, each {threshold (None = untruncated), fid, is}:

    no_trunc  the untruncated point (None if the sweep has none);
    min_fid   the point with the lowest FID;
    valid_is  the point whose IS is closest to `valid_is`, the IS of the real validation images
              (the ref_stats stage's val_is_mean): the smallest |IS - valid_is| over the sweep's
              points, no interpolation between them (so it is only as fine as the threshold
              grid); ties go to the lower FID. None when `valid_is` is None (no val split);
    max_is    the point with the highest IS.

    Every point, the untruncated one included, is a candidate for the last three (a model
    whose best FID is untruncated reports threshold None). Points with a non-finite FID or IS
    are skipped; an entry with no candidate is None.
    """
    ok = [r for r in rows if _finite(r["fid"]) and _finite(r["is_mean"])]
    untrunc = next((r for r in rows if r["threshold"] is None), None)
    best_fid = min(ok, key=lambda r: (r["fid"], -r["is_mean"]), default=None)
    best_is = max(ok, key=lambda r: (r["is_mean"], -r["fid"]), default=None)
    matched = None
    if valid_is is not None:
        matched = min(ok, key=lambda r: (abs(r["is_mean"] - valid_is), r["fid"]), default=None)
    return {"no_trunc": _entry(untrunc), "min_fid": _entry(best_fid), "valid_is": _entry(matched),
            "max_is": _entry(best_is)}


def mean_rows(rows: Sequence[dict]) -> list[dict]:
    """One row per threshold (first-seen order): MEAN_KEYS averaged over the sweep seeds, with
    `seeds` (how many) and `fid_sd` / `is_sd` (their standard deviation; 0 with one seed)."""
    by_t: dict = {}
    for r in rows:
        by_t.setdefault(r["threshold"], []).append(r)
    out = []
    for t, rs in by_t.items():
        row = {"threshold": t, "truncated": t is not None, "seeds": len(rs)}
        for k in MEAN_KEYS:
            v = [r[k] for r in rs]
            row[k] = sum(v) / len(v) if all(_finite(x) for x in v) else float("nan")
        for k, sd in (("fid", "fid_sd"), ("is_mean", "is_sd")):
            m = row[k]
            row[sd] = (sum((r[k] - m) ** 2 for r in rs) / (len(rs) - 1)) ** 0.5 if len(rs) > 1 else 0.0
        out.append(row)
    return out


def trained(rows: Sequence[dict], valid_is: float | None, fraction: float) -> bool | None:
    """Untruncated IS >= fraction x the real validation images' IS (None: not known)."""
    free = next((r for r in rows if r["threshold"] is None), None)
    if free is None or valid_is is None or not _finite(free["is_mean"]):
        return None
    return free["is_mean"] >= fraction * valid_is


def csv_rows(rows: Sequence[dict]) -> list[dict]:
    """Rows for the sweep CSV (CSV_COLUMNS): the threshold cell is empty for the untruncated point."""
    return [{"threshold": "" if r["threshold"] is None else r["threshold"], "truncated": r["truncated"],
             "sweep_seed": r["sweep_seed"], **{k: r[k] for k in METRIC_KEYS}} for r in rows]


def timings(rows: Sequence[dict]) -> list[dict]:
    """Per point: threshold and its seconds (TIMING_KEYS), rounded to ms."""
    return [{"threshold": r["threshold"], "sweep_seed": r["sweep_seed"], **{k: round(r[k], 3) for k in TIMING_KEYS}}
            for r in rows]
