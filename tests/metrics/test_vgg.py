"""VGG-16 fc2 features for precision/recall: layout, local weights, preprocessing, wiring."""
import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from biggan.config.evaluation import EvalConfig
from biggan.metrics.feature_net import load_pr_net
from biggan.metrics.images import nhwc_batches
from biggan.metrics.precision_recall import precision_recall
from biggan.metrics.refstats import ReferenceStats, compute_reference
from biggan.metrics.scorer import Scorer
from biggan.metrics.vgg import VGG16, VGGFeatureNet, load_vgg16

# torchvision's vgg16-397923af.pth: 13 convs at these `features` indices, 3 linears
CONVS = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256),
         14: (256, 256), 17: (512, 256), 19: (512, 512), 21: (512, 512), 24: (512, 512),
         26: (512, 512), 28: (512, 512)}
LINEARS = {0: (4096, 25088), 3: (4096, 4096), 6: (1000, 4096)}


def released_layout() -> dict[str, tuple[int, ...]]:
    out = {}
    for i, (o, c) in CONVS.items():
        out[f"features.{i}.weight"], out[f"features.{i}.bias"] = (o, c, 3, 3), (o,)
    for i, (o, c) in LINEARS.items():
        out[f"classifier.{i}.weight"], out[f"classifier.{i}.bias"] = (o, c), (o,)
    return out


def test_layout_is_the_released_one():
    with torch.device("meta"):
        sd = VGG16().state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == released_layout()
    assert sum(v.numel() for v in sd.values()) == 138_357_544


@pytest.fixture(scope="module")
def full_weights(tmp_path_factory):
    """A file in the released layout, small on disk: each tensor a broadcast single value."""
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(1, generator=g).expand(shape) for k, shape in released_layout().items()}
    path = tmp_path_factory.mktemp("vgg") / "vgg16-random.pth"
    torch.save(sd, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_local_weights_load_strictly_and_sha256_is_checked(full_weights):
    path, digest = full_weights
    net, got = load_vgg16(path, digest)
    assert got == digest and not net.training
    assert all(p.device.type == "cpu" and not p.requires_grad for p in net.parameters())
    with pytest.raises(ValueError, match="does not match eval.vgg16_sha256"):
        load_vgg16(path, "0" * 64)
    cfg = EvalConfig(pr_features="vgg16", vgg16_weights=str(path), vgg16_sha256=digest)
    pr_net = load_pr_net(cfg)
    assert (pr_net.dim, pr_net.num_classes, pr_net.name) == (4096, 1000, f"vgg16-fc2:{digest[:16]}")
    assert load_pr_net(EvalConfig()) is None


def test_missing_and_wrong_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="Nothing is downloaded.*vgg16-397923af.pth"):
        load_vgg16(tmp_path / "absent.pth", None)
    path = tmp_path / "small.pth"
    torch.save(VGG16(width=2, fc_dim=8).state_dict(), path)
    with pytest.raises(ValueError, match="not the VGG-16 state_dict"):
        load_vgg16(path, None)
    with pytest.raises(ValueError, match="needs vgg16_weights"):
        EvalConfig(pr_features="vgg16")


def tiny_net(seed: int, fc_dim: int = 16) -> VGGFeatureNet:
    torch.manual_seed(seed)
    return VGGFeatureNet(VGG16(width=2, fc_dim=fc_dim), str(seed) * 64)


def test_fc2_features_of_resized_normalised_images():
    net = tiny_net(0)
    x = torch.randint(0, 256, (3, 3, 20, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    m, c = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    seen = []
    hook = net.net.register_forward_pre_hook(
        lambda mod, a: seen.append((a[0].clone(), m.fp32_precision, c.fp32_precision)))
    fc2, logits = net.features(x)
    hook.remove()
    inp, *flags = seen[0]
    assert flags == ["ieee", "ieee"]
    ref_in = F.interpolate(x.float() / 255, size=(224, 224), mode="bilinear", antialias=True)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(inp, (ref_in - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1))
    v = net.net
    h = v.avgpool(v.features(inp)).flatten(1)
    ref_fc2 = F.relu(v.classifier[3](F.relu(v.classifier[0](h))))   # fc2 after ReLU, no dropout
    assert fc2.shape == (3, 16) and logits.shape == (3, 1000)
    torch.testing.assert_close(fc2, ref_fc2)
    torch.testing.assert_close(logits, v.classifier[6](ref_fc2))
    with pytest.raises(TypeError, match="uint8"):
        net.features(x.float())


def test_precision_recall_in_the_vgg_space(tmp_path):
    # scorer (IS/FID) and precision/recall networks differ: P/R must use the second one's features
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (48, 16, 16, 3), dtype=np.uint8)
    val = rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    scorer_net, pr_net = tiny_net(1, fc_dim=16), tiny_net(2, fc_dim=12)
    cfg = EvalConfig(batch_size=16, is_splits=2, pr_k=3, pr_samples=40)
    ref, metrics = compute_reference(scorer_net, nhwc_batches(train, 16), nhwc_batches(val, 16), cfg,
                                     progress=False, pr_net=pr_net)
    assert ref.pr_features.shape == (40, 12) and ref.pr_space == pr_net.name == metrics["pr_features"]
    ref.save(tmp_path / "stats.npz")
    loaded = ReferenceStats.load(tmp_path / "stats.npz")
    assert loaded.pr_space == pr_net.name and loaded.feature_net == scorer_net.name
    val_pr = pr_net.features(torch.from_numpy(val).permute(0, 3, 1, 2))[0].numpy()
    expect = precision_recall(ref.pr_features[:40], val_pr[:40], 3)
    assert (metrics["val_precision"], metrics["val_recall"]) == pytest.approx(expect)
    with pytest.raises(ValueError, match="eval.pr_features"):
        Scorer(scorer_net, loaded)                         # P/R reference from another network
