import hashlib

import pytest
import torch

from biggan.config.evaluation import EvalConfig
from biggan.metrics.feature_net import load_feature_net
from biggan.metrics.inception import WEIGHTS_URL, load_inception
from biggan.metrics.inception_blocks import max_pool3, tf_avg_pool3
from biggan.metrics.tf_resize import resize_bilinear_tf1
from tests.metrics.inception_layout import NUM_KEYS, NUM_VALUES, random_state_dict


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    sd = random_state_dict()
    path = tmp_path_factory.mktemp("inception") / "pt_inception-random.pth"
    torch.save(sd, path)
    return path, sd, hashlib.sha256(path.read_bytes()).hexdigest()


def images(n=2, h=20, w=24, seed=0):
    return torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_layout_matches_the_published_file():
    sd = random_state_dict()
    assert len(sd) == NUM_KEYS
    assert sum(v.numel() for k, v in sd.items() if not k.endswith("num_batches_tracked")) == NUM_VALUES


def test_random_weights_load_strictly_and_unchanged(weights):
    path, sd, digest = weights
    net, got_digest = load_inception(path, sha256=None)
    assert got_digest == digest
    loaded = net.state_dict()
    assert set(loaded) == set(sd)
    for k, v in sd.items():
        assert loaded[k].shape == v.shape and torch.equal(loaded[k], v), k
    assert all(m.eps == 0.001 for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert net.Mixed_7b.pool is tf_avg_pool3 and net.Mixed_7c.pool is max_pool3


def test_sha256_is_checked(weights):
    path, _, digest = weights
    load_inception(path, sha256=digest.upper())
    with pytest.raises(ValueError, match=rf"{path.name}: sha256 {digest} does not match"):
        load_inception(path, sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2")


def test_missing_file_names_path_and_source(tmp_path):
    missing = tmp_path / "nowhere" / "pt_inception-2015-12-05-6726825d.pth"
    cfg = EvalConfig(feature_net="inception", inception_weights=str(missing))
    with pytest.raises(FileNotFoundError) as e:
        load_feature_net(cfg)
    assert str(missing) in str(e.value) and WEIGHTS_URL in str(e.value)


def test_wrong_layout_is_rejected(tmp_path):
    sd = random_state_dict()
    sd["Mixed_7c.branch_pool.conv.weight"] = torch.zeros(192, 2048, 3, 3)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(ValueError, match="not the FID Inception state_dict"):
        load_inception(path, sha256=None)


def test_forward_features_and_bias_free_logits(weights):
    path, sd, digest = weights
    cfg = EvalConfig(feature_net="inception", inception_weights=str(path))
    net = load_feature_net(cfg, check_sha256=False)
    assert (net.dim, net.num_classes) == (2048, 1008) and digest[:16] in net.name
    x = images()
    captured = {}
    hook = net.net.Conv2d_1a_3x3.register_forward_pre_hook(lambda m, a: captured.setdefault("in", a[0]))
    feats, logits = net.features(x)
    hook.remove()
    assert feats.shape == (2, 2048) and logits.shape == (2, 1008)
    assert torch.isfinite(feats).all() and (feats >= 0).all() and feats.std() > 0
    torch.testing.assert_close(logits, feats @ sd["fc.weight"].T, rtol=1e-4, atol=1e-4)   # no fc.bias
    expected_in = (resize_bilinear_tf1(x.float(), (299, 299)) - 128.0) / 128.0
    torch.testing.assert_close(captured["in"], expected_in, rtol=0, atol=1e-6)
    assert not torch.allclose(feats[0], feats[1])
    with pytest.raises(TypeError, match="uint8"):
        net.features(x.float())


def test_float64_agrees_with_float32(weights):
    path, _, _ = weights
    x = images(1, 16, 16, seed=1)
    f32, _ = load_feature_net(EvalConfig(feature_net="inception", inception_weights=str(path)),
                              check_sha256=False).features(x)
    f64, _ = load_feature_net(EvalConfig(feature_net="inception", inception_weights=str(path),
                                         inception_dtype="float64"), check_sha256=False).features(x)
    assert ((f32 - f64).norm() / f64.norm()).item() < 1e-4


@pytest.fixture
def caller_tf32():
    """A caller that allows TF32 (as training code on Ampere+ GPUs may); restored afterwards."""
    m, c = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    saved = (m.fp32_precision, c.fp32_precision)
    m.fp32_precision = c.fp32_precision = "tf32"
    yield m, c
    m.fp32_precision, c.fp32_precision = saved


def test_features_run_without_tf32_and_restore_the_callers_flags(weights, caller_tf32):
    path, _, _ = weights
    m, c = caller_tf32
    net = load_feature_net(EvalConfig(feature_net="inception", inception_weights=str(path)), check_sha256=False)
    inside = []
    hook = net.net.register_forward_pre_hook(lambda mod, a: inside.append((m.fp32_precision, c.fp32_precision)))
    net.features(images(1, 8, 8))
    hook.remove()
    assert inside == [("ieee", "ieee")]
    assert (m.fp32_precision, c.fp32_precision) == ("tf32", "tf32")
    def fail(mod, a):
        raise RuntimeError("out of memory")
    hook = net.net.register_forward_pre_hook(fail)
    with pytest.raises(RuntimeError, match="out of memory"):    # restored on errors too
        net.features(images(1, 8, 8))
    hook.remove()
    assert (m.fp32_precision, c.fp32_precision) == ("tf32", "tf32")
