import json

import numpy as np
import pytest

from biggan.config import load_params
from biggan.data.digits import digits_images
from biggan.metrics.feature_net import extract_features, load_feature_net
from biggan.metrics.fid import feature_stats
from biggan.metrics.images import nhwc_batches
from biggan.metrics.refstats import ReferenceStats
from stages import ref_stats, shard

KEYS = {"dataset", "feature_net", "dim", "pr_features", "n_train", "train_is_mean", "train_is_std", "n_val", "val_is_mean",
        "val_is_std", "val_fid", "val_fid_imag", "val_precision", "val_recall"}


@pytest.fixture(scope="module")
def shards(trained_digits, tmp_path_factory):
    _, params, _ = trained_digits
    root = tmp_path_factory.mktemp("shards")
    # both splits by default, as the dvc.yaml stage runs it
    assert shard.main(["--params", params, "--dataset", "digits32", "--out", str(root / "digits32"),
                       "--no-progress"]) == 0
    return root


def test_stage_writes_stats_of_the_shards(trained_digits, shards, tmp_path):
    _, params, _ = trained_digits
    out = tmp_path / "refstats"
    assert ref_stats.main(["--params", params, "--dataset", "digits32", "--shards", str(shards),
                           "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == KEYS and (metrics["n_train"], metrics["n_val"]) == (1438, 359)
    assert metrics["train_is_mean"] > metrics["val_is_mean"] > 8.0
    ref = ReferenceStats.load(out / "train_stats.npz")
    net = load_feature_net(load_params(params).eval)
    assert ref.feature_net == net.name == metrics["feature_net"]
    # the shards hold the canonical digits images: same statistics as straight from the source
    imgs, _ = digits_images("train", 32)
    mu, sigma = feature_stats(extract_features(net, nhwc_batches(imgs, 100), progress=False).feats)
    np.testing.assert_allclose(ref.mu, mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ref.sigma, sigma, rtol=1e-4, atol=1e-4)


def test_stage_errors_name_the_problem(trained_digits, shards, tmp_path, capsys):
    _, params, _ = trained_digits
    assert ref_stats.main(["--params", params, "--dataset", "imagenet", "--shards", str(shards)]) == 2
    assert "datasets.imagenet: no such dataset" in capsys.readouterr().err
    assert ref_stats.main(["--params", params, "--dataset", "digits32", "--shards", str(tmp_path)]) == 2
    assert str(tmp_path / "digits32" / "train") in capsys.readouterr().err
