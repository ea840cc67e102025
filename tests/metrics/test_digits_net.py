import json

import numpy as np
import torch
import yaml

from biggan.config import load_params
from biggan.data.digits import digits_images
from biggan.metrics.feature_net import load_feature_net
from biggan.metrics.images import nhwc_batches
from stages import feature_net as feature_net_stage
from tests.metrics.conftest import write_params


def test_stage_reaches_held_out_accuracy(trained_digits):
    out, _, metrics = trained_digits
    assert metrics["val_accuracy_min"] >= 0.97 and metrics["val_accuracy"] >= 0.97
    assert metrics["n_val"] == 359 and metrics["n_train"] == 1438
    ckpt = torch.load(out / "digits_net.pt", weights_only=True)
    assert {"state_dict", "resolution", "width", "feature_dim"} <= set(ckpt)


def test_loaded_net_classifies_val_images_at_other_resolutions(trained_digits):
    _, params, _ = trained_digits
    net = load_feature_net(load_params(params).eval)
    assert (net.dim, net.num_classes) == (128, 10) and net.name.startswith("digits-cnn:")
    for res in (32, 64, 16):
        imgs, labels = digits_images("val", res)
        logits = torch.cat([net.features(b)[1] for b in nhwc_batches(imgs, 128)])
        acc = (logits.argmax(1).numpy() == labels).mean()
        assert acc >= (0.97 if res >= 32 else 0.9), (res, acc)
    feats, _ = net.features(next(nhwc_batches(imgs, 4)))
    assert feats.shape == (4, 128) and np.isfinite(feats.numpy()).all()


def test_training_is_seeded(trained_digits, tmp_path):
    # a short run twice with the same seed gives identical weights
    params = write_params(tmp_path / "p.yaml", {"digits_net": {"epochs": 1, "min_accuracy": 0.0}})
    runs = []
    for i in range(2):
        assert feature_net_stage.main(["--params", params, "--out", str(tmp_path / f"r{i}")]) == 0
        runs.append(torch.load(tmp_path / f"r{i}" / "digits_net.pt", weights_only=True)["state_dict"])
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_stage_fails_below_min_accuracy(tmp_path, capsys):
    params = write_params(tmp_path / "p.yaml", {"digits_net": {"epochs": 1, "lr": 1e-6, "min_accuracy": 0.97}})
    out = tmp_path / "fn"
    assert feature_net_stage.main(["--params", params, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "below eval.digits_net.min_accuracy = 0.97" in err
    assert not (out / "digits_net.pt").exists()
    assert json.loads((out / "metrics.json").read_text())["val_accuracy_min"] < 0.97


def test_trains_on_the_shards_split(tmp_path):
    # a digits dataset with its own split: the net must hold out exactly the shards' val images
    from biggan.data.digits import load_digits_split

    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({
        "datasets": {"d32": {"source": {"kind": "digits", "val_fraction": 0.3, "split_seed": 5},
                             "resolution": 32}},
        "eval": {"digits_net": {"epochs": 1, "min_accuracy": 0.0}}}))
    out = tmp_path / "net"
    assert feature_net_stage.main(["--params", str(path), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    _, _, val_idx = load_digits_split("val", 0.3, 5)
    assert (metrics["val_fraction"], metrics["split_seed"]) == (0.3, 5)
    assert metrics["n_val"] == len(val_idx) == 539 and metrics["n_train"] == 1797 - 539


def test_digits_datasets_that_split_differently_are_refused(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"datasets": {
        "a": {"source": {"kind": "digits", "val_fraction": 0.2}, "resolution": 16},
        "b": {"source": {"kind": "digits", "val_fraction": 0.25}, "resolution": 32}}}))
    assert feature_net_stage.main(["--params", str(path), "--out", str(tmp_path / "net")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "datasets.a.source: val_fraction 0.2" in err
    assert "datasets.b.source: val_fraction 0.25" in err and "split differently" in err


def test_stage_output_holds_no_timings(trained_digits):
    """data/feature_net is what every later stage depends on: a retrain giving the same weights must
    leave it byte-identical (timings live in the metrics record, metrics/feature_net.json)."""
    out, _, metrics = trained_digits
    assert not [k for k in metrics if k.endswith("_seconds")]
    assert sorted(p.name for p in out.iterdir()) == ["digits_net.pt", "metrics.json"]
