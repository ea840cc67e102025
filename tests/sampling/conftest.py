"""Fixtures of the sampling tests: a tiny generator in a model folder (as the train stage writes
it), and a real (small, briefly trained) digits feature network with reference statistics of
the real digits images in the ref_stats stage's layout. Built once per session, ~3 s."""
import contextlib
import json

import pytest
import torch
import yaml

RES = 16
MODEL = {"resolution": RES, "ch": 4, "dim_z": 12, "n_classes": 10, "shared_dim": 8, "attention": []}
DIGITS_NET = {"resolution": 16, "width": 8, "feature_dim": 32, "epochs": 3, "min_accuracy": 0.0}


@contextlib.contextmanager
def one_thread():
    """Tiny models on a shared 2-core box: intra-op threads only contend (measured ~8x slower)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    with one_thread():
        yield


def tiny_generator(seed: int = 0, **model):
    from biggan.config.model import ModelConfig
    from biggan.models import build_generator

    torch.manual_seed(seed)
    cfg = ModelConfig.model_validate({**MODEL, **model})
    return build_generator(cfg).eval(), cfg


def write_model_dir(path, seed: int = 0, variant: str = "tiny", **model):
    """G_ema.pt + model.json as the train stage writes them (biggan.train.outputs) (with non-trivial BN running stats)."""
    from biggan.files import write_json, write_torch

    G, cfg = tiny_generator(seed, **model)
    with torch.no_grad():                          # a few training-mode passes: running stats != (0, 1)
        G.train()
        g = torch.Generator().manual_seed(seed)
        for _ in range(3):
            G(torch.randn(16, cfg.dim_z, generator=g), torch.randint(0, cfg.n_classes, (16,), generator=g))
        G.eval()
    write_torch(path / "G_ema.pt", G.state_dict())
    write_json(path / "model.json", {"model": cfg.model_dump(mode="json"), "variant": variant, "seed": seed,
                                     "dataset": "d16", "iteration": 0, "selection": "final", "run_name": "test",
                                     "mlflow_run_id": None})
    return path


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return write_model_dir(tmp_path_factory.mktemp("model") / "tiny" / "s0")


@pytest.fixture(scope="session")
def eval_root(tmp_path_factory):
    """-> (root, eval section dict): <root>/feature_net/digits_net.pt, <root>/refstats/d16/{train_stats.npz,
    metrics.json}, made with the library functions the feature_net and ref_stats stages call."""
    from biggan.config.evaluation import EvalConfig
    from biggan.data.digits import digits_images
    from biggan.metrics.digits_net import checkpoint
    from biggan.metrics.digits_train import train_digits_net
    from biggan.metrics.feature_net import digits_weights_path, load_feature_net
    from biggan.metrics.images import nhwc_batches
    from biggan.metrics.refstats import compute_reference, reference_stats_path

    root = tmp_path_factory.mktemp("eval")
    section = {"feature_net": "digits", "digits_net": {**DIGITS_NET, "out_dir": str(root / "feature_net")},
               "refstats_dir": str(root / "refstats"), "batch_size": 100, "is_splits": 2, "pr_k": 3,
               "pr_samples": 200, "num_samples": 200}
    cfg = EvalConfig.model_validate(section)
    with one_thread():
        net, _ = train_digits_net(cfg.digits_net)
    weights = digits_weights_path(cfg)
    weights.parent.mkdir(parents=True)
    torch.save(checkpoint(net), weights)
    fnet = load_feature_net(cfg)
    train, _ = digits_images("train", RES)
    val, _ = digits_images("val", RES)
    with one_thread():
        ref, metrics = compute_reference(fnet, nhwc_batches(train, 200), nhwc_batches(val, 200), cfg,
                                         progress=False)
    stats = reference_stats_path(cfg, "d16")
    ref.save(stats)
    (stats.parent / "metrics.json").write_text(json.dumps({"dataset": "d16", **metrics}) + "\n")
    return root, section


def write_params(path, eval_section: dict, sweep: dict | None = None, variants: dict | None = None) -> str:
    path.write_text(yaml.safe_dump({
        "datasets": {"d16": {"source": {"kind": "digits"}, "resolution": RES}},
        "model": MODEL,
        "train": {"batch_size": 32},               # also the batch of each standing-statistics pass
        "eval": eval_section,
        "sweep": {"untruncated": True, "thresholds": [1.0, 0.5], "num_samples": 200, "bn_stats": "standing",
                  "standing_passes": 2, "seeds": [0], **(sweep or {})},
        "variants": variants or {"tiny": {"dataset": "d16"}},
    }))
    return str(path)
