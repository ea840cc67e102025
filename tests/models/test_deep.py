"""BigGAN-deep: shapes, the identity-preserving shortcuts, config validation, save and reload."""
import pytest
import torch

from biggan.config import ConfigError, parse_params
from biggan.config.model import ModelConfig
from biggan.models import build_discriminator, build_generator
from biggan.models.deep import DeepDiscriminator, DeepGenerator
from biggan.models.deep_blocks import DeepDBlock, DeepGBlock
from biggan.models.spectral import LayerFactory

TINY = dict(arch="biggan_deep", hier=False, resolution=16, ch=4, dim_z=6, n_classes=5, shared_dim=4, attention=[8])


def tiny(**kw) -> ModelConfig:
    return ModelConfig(**{**TINY, **kw})


@pytest.mark.parametrize("res,attention", [(16, [8]), (32, [16])])
def test_shapes_range_and_gradients(res, attention):
    torch.manual_seed(0)
    cfg = tiny(resolution=res, attention=attention)
    G, D = build_generator(cfg), build_discriminator(cfg)
    assert isinstance(G, DeepGenerator) and isinstance(D, DeepDiscriminator)
    z, y = torch.randn(4, 6), torch.randint(0, 5, (4,))
    x = G(z, y)
    assert x.shape == (4, 3, res, res) and x.abs().max() <= 1
    out = D(x, y)
    assert out.shape == (4,) and torch.isfinite(out).all()
    out.mean().backward()
    assert all(p.grad is not None for p in [*G.parameters(), *D.parameters()])


def test_depth_and_rgb_conv_options():
    cfg = tiny(g_depth=3, d_depth=1, rgb_conv_channels=8)
    G, D = build_generator(cfg), build_discriminator(cfg)
    assert [sum(isinstance(b, DeepGBlock) for b in s) for s in G.blocks] == [3, 3]
    assert [sum(isinstance(b, DeepDBlock) for b in s) for s in D.blocks] == [1, 1]
    assert G.out_conv.weight.shape[0] == 8
    assert G(torch.randn(2, 6), torch.tensor([0, 1])).shape == (2, 3, 16, 16)


def test_class_embedding_path_equals_label_path():
    torch.manual_seed(0)
    G = build_generator(tiny()).eval()
    z, y = torch.randn(3, 6), torch.tensor([0, 3, 4])
    assert torch.allclose(G(z, y), G(z, class_emb=G.class_embedding(y)))


def test_every_block_sees_the_whole_z():
    """No skip-z split: changing only the last z entry changes every CBN's conditioning."""
    G = build_generator(tiny()).eval()
    seen = []
    for stage in G.blocks:
        stage[0].bn1.register_forward_hook(lambda m, args, out: seen.append(args[2].clone()))
    z = torch.randn(2, 6)
    G(z, torch.tensor([1, 2]))
    z2 = z.clone()
    z2[:, -1] += 1
    G(z2, torch.tensor([1, 2]))
    n = len(G.blocks)
    for a, b in zip(seen[:n], seen[n:]):
        assert a.shape == (2, 6 + 4) and torch.equal(a[:, :6], z) and torch.equal(b[:, :6], z2)


def test_g_shortcut_drops_channels_and_upsamples():
    torch.manual_seed(0)
    layers = LayerFactory(sn=False)
    block = DeepGBlock(16, 8, layers, lambda c: torch.nn.Identity(), up=True)
    for bn in (block.bn1, block.bn2, block.bn3, block.bn4):
        bn.forward = lambda x, onehot, vec: x
    torch.nn.init.zeros_(block.conv4.weight)
    torch.nn.init.zeros_(block.conv4.bias)
    x = torch.randn(2, 16, 4, 4)
    out = block(x, None, None)                       # residual branch zero: out = up(x[:, :8])
    assert torch.equal(out, torch.nn.functional.interpolate(x[:, :8], scale_factor=2, mode="nearest"))
    with pytest.raises(ValueError, match="keeps or narrows"):
        DeepGBlock(8, 16, layers, lambda c: torch.nn.Identity(), up=True)


def test_d_shortcut_keeps_x_and_concatenates_learned_channels():
    torch.manual_seed(0)
    block = DeepDBlock(8, 16, LayerFactory(sn=False), down=True)
    torch.nn.init.zeros_(block.conv4.weight)
    torch.nn.init.zeros_(block.conv4.bias)
    x = torch.randn(2, 8, 8, 8)
    out = block(x)
    pooled = torch.nn.functional.avg_pool2d(x, 2)
    assert out.shape == (2, 16, 4, 4)
    assert torch.allclose(out[:, :8], pooled)                     # identity part
    assert torch.allclose(out[:, 8:], block.conv_sc(pooled))      # 1x1 conv makes the extra 8
    assert block.conv_sc.weight.shape == (8, 8, 1, 1)
    assert DeepDBlock(16, 16, LayerFactory(sn=False), down=False).conv_sc is None


@pytest.mark.parametrize("change,expect", [
    ({"arch": "deep"}, "model.arch: Input should be 'biggan' or 'biggan_deep'"),
    ({"hier": True}, "model.hier: BigGAN-deep has no skip-z"),
    ({"shared": False}, "model.shared: BigGAN-deep conditions every block on [z, shared(y)]"),
    ({"attention": [32]}, "model.attention: resolutions [32] are not G or D block outputs at resolution 16"),
    ({"ch": 1, "resolution": 128, "attention": [64]}, "model.ch: ch 1 is too narrow for BigGAN-deep at 128px"),
    ({"d_ch": 1, "resolution": 128, "attention": [64]}, "model.d_ch: D channels 1"),
    ({"arch": "biggan", "hier": False, "g_depth": 2}, "model.g_depth: g_depth applies to arch: biggan_deep only"),
    ({"arch": "biggan", "hier": False, "rgb_conv_channels": 128}, "model.rgb_conv_channels: rgb_conv_channels applies"),
    ({"rgb_conv_channels": 2}, "model.rgb_conv_channels: Input should be greater than or equal to 3"),
    ({"d_depth": 0}, "model.d_depth: Input should be greater than 0"),
])
def test_bad_deep_config_names_the_key(change, expect):
    raw = {"datasets": {"d16": {"source": {"kind": "digits"}, "resolution": change.get("resolution", 16)}},
           "model": {**TINY, **change}, "variants": {"v": {"dataset": "d16"}}}
    with pytest.raises(ConfigError) as e:
        parse_params(raw, "p.yaml")
    assert any(p.startswith(expect) for p in e.value.problems), e.value.problems


def test_existing_params_default_to_biggan():
    cfg = ModelConfig(resolution=16, ch=4, dim_z=12, attention=[8])
    assert cfg.arch == "biggan" and cfg.g_depth is None and cfg.rgb_conv_channels == 3


def test_saved_deep_generator_reloads_as_deep(tmp_path):
    """The model folder the train stage writes (model.json names the arch) rebuilds the deep G."""
    from biggan.sampling.load import load_model_dir
    from tests.sampling.conftest import write_model_dir

    model = {k: v for k, v in TINY.items() if k != "n_classes"}      # the fixture's 10 classes
    d = write_model_dir(tmp_path / "deep" / "s0", **model)
    G, _ = load_model_dir(d)
    assert isinstance(G, DeepGenerator) and not G.training
    ref = build_generator(ModelConfig.model_validate({**model, "n_classes": 10}))
    ref.load_state_dict(torch.load(d / "G_ema.pt", weights_only=True))
    z, y = torch.randn(3, 6), torch.tensor([0, 5, 9])
    with torch.no_grad():
        assert torch.equal(G(z, y), ref.eval()(z, y))


def test_deep_run_trains_logs_and_samples_like_biggan(tmp_path, monkeypatch):
    """A short in-process training run of a deep model (real MLflow on SQLite): the logged
    model, registered with an alias as the register stage does, and the model folder rebuild
    the deep G; `biggan sample` draws from it."""
    from mlflow import MlflowClient

    from biggan.cli import main
    from biggan.sampling.commands import SHEETS
    from biggan.sampling.load import load_model_dir, load_model_uri
    from biggan.train.outputs import write_stage_outputs
    from biggan.train.run import train
    from tests.train.fakes import DigitsStream, TinyScorer
    from tests.train.specs import RES, tiny_spec

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = tiny_spec(uri=uri, model={"arch": "biggan_deep", "hier": False, "attention": [8]},
                     train={"iterations": 20, "evaluate": True})
    out = train(spec, root=tmp_path, storage=tmp_path / "store", data=DigitsStream(RES, 16),
                scorer=TinyScorer(RES), stage="train@tiny-s0")
    assert out.summary["iterations_done"] == 20 and out.summary["g_params"] == summarize_g(spec.model)
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("biggan").experiment_id])
    assert run.data.params["model.arch"] == "biggan_deep"
    (logged,) = client.search_logged_models([run.info.experiment_id])
    client.create_registered_model("deep-generator")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)       # MLflow resolves models:/m-... via the global client
    version = client.create_model_version("deep-generator", f"models:/{logged.model_id}", run_id=run.info.run_id)
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    client.set_registered_model_alias("deep-generator", "champion", version.version)
    from_uri = load_model_uri("models:/deep-generator@champion", tracking_uri=uri)
    paths = write_stage_outputs(out, tmp_path / "models/tiny/s0", tmp_path / "metrics/train")
    from_dir, _ = load_model_dir(paths["model"].parent)
    assert isinstance(from_uri, DeepGenerator) and isinstance(from_dir, DeepGenerator)
    z, y = torch.randn(3, spec.model.dim_z), torch.tensor([0, 1, 2])
    with torch.no_grad():
        assert torch.equal(from_uri(z, y), from_dir(z, y))
    rc = main(["sample", "--model", str(paths["model"].parent), "--out", str(tmp_path / "sheets"), "--seed", "1",
               "--per-class", "2", "--classes", "3", "--rows", "2", "--steps", "3"])
    assert rc == 0 and all((tmp_path / "sheets" / f"{name}.png").is_file() for name in SHEETS)


def summarize_g(cfg: ModelConfig) -> int:
    from biggan.models import summarize

    return summarize(cfg).g_params
