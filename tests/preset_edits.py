"""README's paper-scale edits applied to a preset of configs/, as a user makes them.

    raw = readme_edits("imagenet128", root=tree, weights=pth)       # the YAML snippets of README
    raw = small(raw, "t1_b2048_ch96_ortho")                                  # sizes for 2 CPU cores

`readme_snippets()` reads the YAML blocks of README's section "Running a paper-scale preset
against local ImageNet"; `readme_edits` merges the first (local paths) and, with `synsets`, the
second (a subset) onto the preset, with the dataset renamed to the preset's and the paths and
wnids replaced by the test's. `small` changes sizes and the device only.
"""
from __future__ import annotations

import copy
import hashlib
import re
from pathlib import Path

import yaml

from biggan.config.base import deep_merge

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIGS = REPO_ROOT / "configs"
PRESETS = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
SECTION = "## Running a paper-scale preset against local ImageNet"


def preset(name: str) -> dict:
    return yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())


def readme_snippets() -> list[dict]:
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index(SECTION):]
    section = section[:section.index("\n## ", len(SECTION))]
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)]


def _renamed(snippet: dict, dataset: str) -> dict:
    snippet = copy.deepcopy(snippet)
    snippet["datasets"] = {dataset: v for v in snippet["datasets"].values()}
    return snippet


def readme_edits(name: str, root: str | Path = "/data/imagenet", weights: str | Path | None = None,
                 sha256: str | None = None, synsets: list[str] | None = None) -> dict:
    """The preset with README's edits: its ImageNet root (or JFT manifest), the Inception
    weights (and, for weights made by a test, their sha256), and a subset when `synsets`."""
    raw = preset(name)
    (dataset,) = raw["datasets"]
    paths, subset = readme_snippets()
    edits = _renamed(paths, dataset)
    src = edits["datasets"][dataset]["source"]
    if raw["datasets"][dataset]["source"]["kind"] == "manifest":   # jft256: README's one-line note
        src.clear()
        src.update(path=f"{root}/manifest.jsonl", root=f"{root}/images")
    else:
        src["root"] = str(root)
    if weights is not None:
        edits["eval"]["inception_weights"] = str(weights)
    if sha256 is not None:
        edits["eval"]["inception_sha256"] = sha256
    if synsets is not None:
        subset = _renamed(subset, dataset)
        subset["datasets"][dataset]["source"]["synsets"] = list(synsets)
        subset["model"]["n_classes"] = len(synsets)
        edits = deep_merge(edits, subset)
    return deep_merge(raw, edits)


def small(raw: dict, variant: str, n_classes: int | None = None) -> dict:
    """Sizes for two CPU cores: one variant, one seed, 2 iterations of batch 2, a few samples, a
    short sweep; the device (CPU, fp32, one worker). Nothing else of the preset changes."""
    raw = copy.deepcopy(raw)
    raw["seeds"] = [0]
    raw["variants"] = {variant: raw["variants"][variant]}
    for ds in raw["datasets"].values():
        ds.update(workers=1, max_skipped_fraction=0.2, shard_max_count=8)   # the trees hold broken images
    if n_classes is not None:
        raw["model"]["n_classes"] = n_classes
    # one standing-statistics pass before each score (default 16: at ch 96, 128 px, each pass
    # is a G forward pass as dear as a quarter of a training step)
    raw["train"].update(iterations=2, batch_size=2, num_workers=1, accumulate=1, use_gpu=False,
                        precision="fp32", eval_samples=4, eval_standing_passes=1, sheet_size=4,
                        threads_per_worker=2)
    raw["eval"].update(num_samples=4, batch_size=4, is_splits=2, pr_k=2, pr_samples=4)
    # two of the preset's thresholds: each point costs an FID, 2048 x 2048 eigendecompositions
    # (3-30 s on 2 cores, quiet to busy), and Table 2 needs only a curve to pick from
    ts = raw["sweep"]["thresholds"]
    raw["sweep"].update(num_samples=4, standing_passes=1, thresholds=[ts[0], ts[-1]])
    return raw


def changed_keys(a: dict, b: dict, prefix: str = "") -> set[str]:
    """Dotted paths whose values differ between two params dicts (added or removed keys too)."""
    out = set()
    for k in a.keys() | b.keys():
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out |= changed_keys(va, vb, f"{prefix}{k}.")
        elif va != vb or (k in a) != (k in b):
            out.add(f"{prefix}{k}")
    return out


def write_inception_weights(path: Path, seed: int = 0) -> str:
    """Random weights in the layout of pt_inception-2015-12-05-6726825d.pth; returns their sha256."""
    import torch

    from tests.metrics.inception_layout import random_state_dict

    torch.save(random_state_dict(seed), path)
    return hashlib.sha256(path.read_bytes()).hexdigest()
