import numpy as np
import pytest
import torch

from biggan.config import load_params
from biggan.data.digits import digits_images
from biggan.metrics.feature_net import load_feature_net
from biggan.metrics.images import nhwc_batches, quantize
from biggan.metrics.refstats import ReferenceStats, compute_reference, reference_stats_path
from biggan.metrics.scorer import Scorer

KEYS = {"is_mean", "is_std", "fid", "fid_imag", "precision", "recall", "n"}


@pytest.fixture(scope="module")
def setup(trained_digits):
    _, params, _ = trained_digits
    cfg = load_params(params).eval
    net = load_feature_net(cfg)
    train, _ = digits_images("train", 32)
    val, val_labels = digits_images("val", 32)
    ref, metrics = compute_reference(net, nhwc_batches(train, 100), nhwc_batches(val, 100), cfg, progress=False)
    return cfg, net, ref, metrics, val, val_labels


def sampler(images: np.ndarray):
    """sample_fn over fixed uint8 NHWC images, as floats in [-1, 1] like a generator's output."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    state = {"i": 0}

    def sample_fn(b: int) -> torch.Tensor:
        idx = torch.arange(state["i"], state["i"] + b) % len(x)
        state["i"] += b
        return x[idx]
    return sample_fn


def test_quantize_inverts_the_generator_scaling():
    u = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16).expand(1, 3, 16, 16)
    assert torch.equal(quantize(u.float() / 127.5 - 1.0), u)
    assert quantize(torch.tensor([-3.0, 3.0, -1.0, 1.0])).tolist() == [0, 255, 0, 255]


def test_real_validation_scores(setup):
    _, net, ref, m, _, _ = setup
    assert m["feature_net"] == net.name and m["n_train"] == 1438 and m["n_val"] == 359
    assert 8.0 < m["val_is_mean"] <= 10.0 and 8.0 < m["train_is_mean"] <= 10.0    # 10 balanced, well classified digits
    assert m["val_precision"] > 0.7 and m["val_recall"] > 0.85     # k=3 on 359 vs 359 points: low-biased
    assert m["val_fid"] >= 0 and m["val_fid_imag"] < 1e-3 * max(m["val_fid"], 1.0)
    assert ref.n == 1438 and ref.mu.shape == (128,) and ref.sigma.shape == (128, 128)


def test_generator_path_equals_image_path(setup):
    cfg, net, ref, _, val, _ = setup
    scorer = Scorer(net, ref, pr_k=cfg.pr_k)
    from_images = scorer.score_images(nhwc_batches(val, 50))
    from_generator = scorer.score_generator(sampler(val), n=len(val), batch_size=50)
    assert from_images == from_generator and set(from_images) == KEYS


def test_mode_dropping_lowers_recall_and_is(setup):
    _, net, ref, m, val, labels = setup
    scorer = Scorer(net, ref, pr_k=10)          # larger k: less small-sample bias with 172 points
    full = scorer.score_images(nhwc_batches(val, 50))
    half = val[labels < 5]
    s = scorer.score_generator(sampler(half), n=len(half))
    assert full["recall"] > 0.95 and s["recall"] < 0.75
    assert s["precision"] > 0.9
    assert 4.0 < s["is_mean"] < 5.5
    assert s["fid"] > 5 * m["val_fid"]
    noise = np.random.default_rng(0).integers(0, 256, (400, 32, 32, 3), dtype=np.uint8)
    s_noise = scorer.score_generator(sampler(noise), n=400)
    # noise collapses onto one class region of the digits features: no recall, IS near 1, huge FID
    assert s_noise["recall"] < 0.05 and s_noise["is_mean"] < 1.5 and s_noise["fid"] > 2 * s["fid"]


def test_score_counts_every_sample_of_uneven_batches(setup):
    # (its speed is benchmarked in benchmarks/bench_sweep.py, not asserted here)
    _, net, ref, _, val, _ = setup
    s = Scorer(net, ref).score_generator(sampler(val), n=1000, batch_size=300)
    assert s["n"] == 1000 and all(s[k] == s[k] for k in ("is_mean", "fid", "precision", "recall"))


def test_refstats_round_trip_and_net_identity(setup, tmp_path):
    cfg, net, ref, _, _, _ = setup
    path = reference_stats_path(cfg.model_copy(update={"refstats_dir": str(tmp_path)}), "digits32")
    assert path == tmp_path / "digits32" / "train_stats.npz"
    ref.save(path)
    back = ReferenceStats.load(path)
    assert back.feature_net == ref.feature_net and back.n == ref.n
    assert np.array_equal(back.sigma, ref.sigma) and np.array_equal(back.pr_features, ref.pr_features)
    other = ReferenceStats(ref.mu, ref.sigma, ref.n, "inception-2015-12-05:0123", ref.pr_features)
    with pytest.raises(ValueError, match="re-run the ref_stats stage"):
        Scorer(net, other)
    with pytest.raises(FileNotFoundError, match="stages.ref_stats"):
        ReferenceStats.load(tmp_path / "none.npz")


def test_bad_sample_fn_shape_is_reported(setup):
    _, net, ref, _, _, _ = setup
    with pytest.raises(ValueError, match=r"sample_fn\(8\) must return \(b, 3, H, W\)"):
        Scorer(net, ref).score_generator(lambda b: torch.zeros(b, 1, 32, 32), n=16, batch_size=8)
