"""A temporary copy of this repository with a tiny params.yaml, for real `dvc repro` runs.

    repo = make_tiny_repo(tmp_path / "repo")           # git + DVC initialised, params committed
    run_dvc(repo, "repro")                             # -> CompletedProcess (check=True)

The tiny profile keeps the whole pipeline (manifest, shards, feature net, reference stats,
train, sweep, tables) to about a minute on two cores: 16 px digits, ch 4, a few dozen
iterations, in-process training, small sample counts. `tiny_params()` returns it as a dict so
a test can change a key before writing.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
# produced by runs, never copied into a fresh repo
SKIP = ("results/", "dvc.lock", "data/", "models/", "metrics/", "mlflow.db", "checkpoints/", "tests/")


def tiny_params() -> dict:
    digits = {"kind": "digits", "val_fraction": 0.2, "split_seed": 0, "upsample_filter": "bicubic"}
    return {
        "seeds": [0],
        "datasets": {
            "d16": {"source": digits, "resolution": 16, "encoding": "png", "workers": 1},
            "ml16": {"source": {"kind": "manifest", "path": "data/raw/digits_multilabel/manifest.jsonl",
                                "top_k_labels": 12}, "resolution": 16, "encoding": "png", "workers": 1},
        },
        "model": {"resolution": 16, "ch": 4, "n_classes": 10, "shared": True, "shared_dim": 8, "hier": True,
                  "dim_z": 12, "attention": []},
        "train": {"iterations": 20, "num_workers": 1, "launcher": "local", "threads_per_worker": 1,
                  "batch_size": 16, "num_d_steps": 1, "optim": {"g_lr": 5e-4, "d_lr": 5e-4},
                  "ema": {"enabled": True, "decay": 0.9, "start": 5}, "log_every": 5, "sv_every": 10,
                  "eval_every": 10, "eval_samples": 200, "checkpoint_every": 10, "sample_every": 20,
                  "sheet_size": 16},
        "eval": {"feature_net": "digits", "inception_weights": None,
                 "inception_sha256": "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
                 "num_samples": 200, "batch_size": 100, "is_splits": 2, "pr_k": 3, "pr_samples": 200,
                 "digits_net": {"resolution": 16, "width": 8, "feature_dim": 32, "epochs": 2, "batch_size": 64,
                                "min_accuracy": 0.3}},
        "sweep": {"untruncated": True, "thresholds": [1.0, 0.5], "num_samples": 200, "bn_stats": "standing",
                  "standing_passes": 2, "seeds": [0]},
        "storage": {"root": None},
        "tracking": {"uri": "sqlite:///mlflow.db", "experiment": "tiny", "registered_model": "tiny-generator",
                     "log_model": True},
        "variants": {
            "full": {"dataset": "d16", "tables": [1, 2], "paper_row": ["t1:b2048_ch96_ortho", "t2:biggan_128"],
                     "label": "tiny full"},
            "jft": {"dataset": "ml16", "tables": [3], "paper_row": "t3:ch64_full", "label": "tiny multi-label",
                    "model": {"n_classes": 12}},
        },
        "collapse_study": {
            "unstable": {"dataset": "d16", "label": "tiny unstable", "model": {"sn": {"g": False, "d": False}},
                         "train": {"optim": {"g_lr": 0.05, "d_lr": 0.05}, "ortho": {"enabled": False},
                                   "collapse": {"warmup": 0, "stop": False}}},
        },
    }


def tracked_files(root: Path = REPO_ROOT) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=root, check=True,
                         capture_output=True, text=True).stdout.split("\n")
    return [f for f in out if f and not f.startswith(SKIP) and (root / f).is_file()]


def dvc_env() -> dict[str, str]:
    """The environment of a user's shell that has NOT activated the venv: README's commands call
    .venv/bin/dvc, and the stages must find the project's interpreter by themselves."""
    bin_dir = str(Path(sys.executable).parent)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != Path(bin_dir).resolve()]
    env = {**os.environ, "PATH": os.pathsep.join(path), "DVC_NO_ANALYTICS": "1",
           "RAY_USAGE_STATS_ENABLED": "0", "PYTHONUNBUFFERED": "1"}
    env.pop("VIRTUAL_ENV", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)
    return env


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def make_tiny_repo(dst: Path, params: dict | None = None) -> Path:
    dst = Path(dst)
    for rel in tracked_files():
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, target)
    (dst / "params.yaml").write_text(yaml.safe_dump(params or tiny_params(), sort_keys=False))
    (dst / ".venv").symlink_to(Path(sys.prefix))      # dvc.yaml's `py` is .venv/bin/python
    subprocess.run([sys.executable, "-m", "biggan.report.offline_html", str(dst / ".dvc/plots/offline.html")],
                   check=True, capture_output=True, cwd=REPO_ROOT)
    git(dst, "init", "-q")
    git(dst, "config", "user.name", "pipeline test")        # dvc exp run commits experiments
    git(dst, "config", "user.email", "pipeline-test@localhost")
    git(dst, "add", "-A")
    git(dst, "commit", "-qm", "tiny pipeline")
    return dst


def run_dvc(repo: Path, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    p = subprocess.run([str(repo / ".venv/bin/dvc"), *args], cwd=repo, env=dvc_env(), capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed ({p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p
