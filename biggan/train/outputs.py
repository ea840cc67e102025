"""Stage outputs of a training run, each written to a temporary name and renamed (biggan.files).

    <model_dir>/G_ema.pt         selected G_ema state_dict (torch.load(weights_only=True))
    <model_dir>/model.json       resolved model config + where the weights come from
    <metrics_dir>/<name>.losses.csv   iteration, d_loss, d_loss_real, d_loss_fake, g_loss,
                                      [ortho], [r1], step_time, images_per_s
    <metrics_dir>/<name>.sigma0.csv   iteration, G/<layer>..., D/<layer>... (top singular value)
    <metrics_dir>/<name>.evals.csv    iteration, is_mean, is_std, fid, ... (header only if none)
    <metrics_dir>/<name>.json         the run summary -- written last, so a present JSON means
                                      every other output is complete
and per variant, after all its seeds, the small numeric summary DVC shows as metrics
(`write_scores`): scores only, no ids, paths or timings, so a rerun with the same results
diffs empty.
"""
from __future__ import annotations

from pathlib import Path

from biggan.files import write_csv, write_json, write_torch

LOSS_COLUMNS = ["iteration", "d_loss", "d_loss_real", "d_loss_fake", "g_loss", "ortho", "r1", "step_time",
                "images_per_s"]
EVAL_COLUMNS = ["iteration", "is_mean", "is_std", "fid", "fid_imag", "precision", "recall"]


def write_history(metrics_dir: Path, name: str, history) -> dict[str, Path]:
    return {
        "losses": write_csv(metrics_dir / f"{name}.losses.csv", history.losses, LOSS_COLUMNS),
        "sigma0": write_csv(metrics_dir / f"{name}.sigma0.csv", history.sigma0, ["iteration"]),
        "evals": write_csv(metrics_dir / f"{name}.evals.csv", history.evals, EVAL_COLUMNS),
    }


def write_stage_outputs(outcome, model_dir: Path, metrics_dir: Path, name: str | None = None) -> dict[str, Path]:
    """All outputs of one run; the summary JSON last (and a stale one removed first, so new
    weights never sit next to an old summary)."""
    name = name or outcome.spec.run_name
    (metrics_dir / f"{name}.json").unlink(missing_ok=True)
    paths = {"weights": write_torch(model_dir / "G_ema.pt", outcome.g_ema_state),
             "model": write_json(model_dir / "model.json", outcome.model_doc())}
    paths.update(write_history(metrics_dir, name, outcome.history))
    paths["metrics"] = write_json(metrics_dir / f"{name}.json", outcome.summary)
    return paths


def _r(v):
    return round(float(v), 4) if v is not None else None


def write_scores(path: Path, summaries: list[dict]) -> Path:
    """One variant over its seeds: mean best FID and IS at it, earliest Itr, seeds collapsed.
    (Per-seed numbers are in each run's summary; one row per variant keeps `dvc metrics show`
    and `dvc exp show` narrow.)"""
    fids = [s["fid_best"] for s in summaries if s["fid_best"] is not None]
    iss = [s["is_at_fid_best"] for s in summaries if s["is_at_fid_best"] is not None]
    return write_json(path, {"fid": _r(sum(fids) / len(fids)) if fids else None,
                             "is": _r(sum(iss) / len(iss)) if iss else None,
                             "itr": min(s["itr"] for s in summaries),
                             "collapsed": sum(bool(s["collapsed"]) for s in summaries)})
