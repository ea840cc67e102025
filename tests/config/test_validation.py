"""Bad params that used to pass validation (issue 14): each is rejected with its key path."""
from __future__ import annotations

import pytest

from biggan.config import ConfigError, load_params, parse_params
from tests.config.test_params import BASE, problems

IMAGENET = {"source": {"kind": "imagenet", "root": "/nowhere"}, "resolution": 32}


def with_(section: str, **kw) -> dict:
    return {**BASE, section: {**BASE.get(section, {}), **kw}}


def test_dataset_resolution_must_match_the_model_of_each_variant_using_it():
    raw = {**BASE, "datasets": {"d32": BASE["datasets"]["d32"],
                                "d16": {"source": {"kind": "digits"}, "resolution": 16}},
           "variants": {"a": {"dataset": "d16"}, "b": {"dataset": "d16", "model": {"resolution": 16, "hier": False}}}}
    assert problems(raw) == ["model.resolution: 32 (variant 'a'), but its dataset's "
                             "datasets.d16.resolution is 16"]
    raw["variants"]["a"]["dataset"] = "d32"     # d16 is now used at 16 only
    parse_params(raw)
    raw["variants"]["b"]["model"]["resolution"] = 64
    assert problems(raw)[0].startswith("variants.b.model.resolution: 64 (variant 'b'), but its dataset's "
                                       "datasets.d16.resolution is 16")


def test_imagenet_classes_are_its_declared_synsets():
    # without source.synsets the tree's classes are counted from its shards (tests/data/test_imagenet_subset.py)
    subset = {**IMAGENET, "source": {**IMAGENET["source"], "synsets": ["n01440764", "n01443537"]}}
    raw = {**BASE, "datasets": {"inet": subset}, "variants": {"a": {"dataset": "inet"}}}
    assert problems(raw) == ["variants.a.model.n_classes: 10, but dataset 'inet' has 2 classes"]
    raw["variants"]["a"]["model"] = {"n_classes": 2}
    parse_params(raw)


@pytest.mark.parametrize("section, key, value, message", [
    ("train", "iterations", True, "train.iterations: Input should be a valid integer (got True)"),
    ("train", "use_gpu", "yes", "train.use_gpu: Input should be a valid boolean (got 'yes')"),
    ("train", "iterations", 2.0, "train.iterations: Input should be a valid integer (got 2.0)"),
    ("eval", "num_samples", "500", "eval.num_samples: Input should be a valid integer (got '500')"),
    ("model", "shared", 1, "model.shared: Input should be a valid boolean (got 1)"),
])
def test_no_lax_coercion(section, key, value, message):
    assert problems(with_(section, **{key: value})) == [message]


def test_ints_are_still_floats():
    p = parse_params(with_("train", optim={"g_lr": 1, "d_lr": 1}, r1_gamma=0))
    assert p.train.optim.g_lr == 1.0 and isinstance(p.train.optim.g_lr, float)


def test_both_splits_required_as_dvc_yaml_shards_both():
    (msg,) = problems({**BASE, "datasets": {"d32": {**BASE["datasets"]["d32"], "splits": ["train"]}}})
    assert msg.startswith("datasets.d32.splits: must be [train, val]: dvc.yaml shards both splits")
    parse_params({**BASE, "datasets": {"d32": {**BASE["datasets"]["d32"], "splits": ["val", "train"]}}})


def test_seeds_must_be_distinct():
    (msg,) = problems({**BASE, "seeds": [0, 1, 0]})
    assert msg.startswith("seeds: seeds must be distinct") and "repeated: [0]" in msg


def test_max_skipped_fraction_below_one():
    (msg,) = problems({**BASE, "datasets": {"d32": {**BASE["datasets"]["d32"], "max_skipped_fraction": 1}}})
    assert msg.startswith("datasets.d32.max_skipped_fraction: Input should be less than 1")


def test_is_splits_fit_every_sample_count():
    (msg,) = problems(with_("eval", is_splits=10, num_samples=5))
    assert msg.startswith("eval: is_splits 10 is larger than num_samples 5")
    (msg,) = problems(with_("sweep", num_samples=5) | {"eval": {"is_splits": 10, "num_samples": 100}})
    assert msg.startswith("sweep.num_samples: 5 is fewer than eval.is_splits 10")
    raw = with_("train", eval_samples=5) | {"eval": {"is_splits": 10, "num_samples": 100}}
    assert problems(raw) == ["train.eval_samples: 5 is fewer than eval.is_splits 10 (variant 'a'; IS splits "
                             "the samples into is_splits parts)",
                             "train.eval_samples: 5 is fewer than eval.is_splits 10 (variant 'b'; IS splits "
                             "the samples into is_splits parts)"]
    raw["train"]["evaluate"] = False            # no IS during training: eval_samples unused
    parse_params(raw)
    raw = {**BASE, "variants": {"a": {"dataset": "d32", "train": {"eval_samples": 3}}}}
    assert problems(raw)[0].startswith("variants.a.train.eval_samples: 3 is fewer than eval.is_splits 10")


def test_empty_sweep_rejected():
    (msg,) = problems(with_("sweep", thresholds=[], untruncated=False))
    assert msg.startswith("sweep: empty sweep: no thresholds and untruncated false")
    parse_params(with_("sweep", thresholds=[], untruncated=True))


def test_duplicate_yaml_keys_name_file_line_and_path(tmp_path):
    f = tmp_path / "params.yaml"
    f.write_text("seeds: [0]\n"
                 "train:\n"
                 "  batch_size: 16\n"
                 "  optim:\n"
                 "    g_lr: 1.0e-3\n"
                 "    g_lr: 2.0e-3\n")
    with pytest.raises(ConfigError) as e:
        load_params(f)
    assert e.value.source == str(f)
    assert e.value.problems == ["train.optim.g_lr: duplicate key on line 6 (first on line 5); "
                                "YAML would keep only the last one"]
    f.write_text("train:\n  batch_size: 16\nseeds: [0]\ntrain:\n  iterations: 3\n")
    with pytest.raises(ConfigError, match=r"train: duplicate key on line 4 \(first on line 1\)"):
        load_params(f)
    # anchors and merge keys are not duplicates
    f.write_text("x-base: &b {batch_size: 16, iterations: 3}\n")
    with pytest.raises(ConfigError, match="x-base: unknown key"):
        load_params(f)
    f.write_text("datasets: {d16: {source: {kind: digits}, resolution: 16}}\n"
                 "model: {resolution: 16, n_classes: 10, ch: 4, dim_z: 60, attention: []}\n"
                 "train: &t {batch_size: 16, iterations: 3}\n"
                 "variants: {a: {dataset: d16, train: {<<: *t, iterations: 5}}}\n")
    assert load_params(f).run("a", 0).train.iterations == 5


def test_yaml_booleans_are_yaml_1_2s_as_dvc_reads_them(tmp_path):
    """`dvc exp run -S` rewrites params.yaml with `mode: off` unquoted; under YAML 1.1 that is
    False. Read as YAML 1.2 (DVC's ruamel): on/off/yes/no stay strings, true/false are booleans."""
    from biggan.config.yamlfile import load_yaml

    path = tmp_path / "p.yaml"
    path.write_text("mode: off\nanswer: yes\nflag: true\nother: False\nn: 3\nx: 1.0e-3\nnothing: null\n")
    assert load_yaml(path) == {"mode": "off", "answer": "yes", "flag": True, "other": False, "n": 3,
                               "x": 1.0e-3, "nothing": None}
