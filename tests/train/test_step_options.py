"""train.precision and train.runtime options of GANStep, on CPU with a tiny model."""
import copy
import math

import pytest
import torch

from biggan.config.model import ModelConfig
from biggan.config.train import RuntimeConfig, TrainConfig
from biggan.ema import EMA
from biggan.models import build_discriminator, build_generator
from biggan.train.ray_trainer import torch_config
from biggan.train.step import GANStep, autocast_dtype, infinite, make_optimizers, prepare_modules

MCFG = ModelConfig(resolution=16, ch=2, dim_z=12, n_classes=3, shared_dim=4, attention=[8])


def make(**train_kw) -> tuple[GANStep, object]:
    torch.manual_seed(0)
    tcfg = TrainConfig.model_validate({"batch_size": 8, "num_workers": 1, **train_kw})
    G, D = build_generator(MCFG), build_discriminator(MCFG)
    prepare_modules(G, D, tcfg.runtime, torch.device("cpu"))
    opt_g, opt_d = make_optimizers(G, D, tcfg)
    step = GANStep(G, D, opt_g, opt_d, MCFG, tcfg, ema=EMA(G, 0.5, 0), generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    x = torch.rand(tcfg.micro_batch, 3, 16, 16, generator=g) * 2 - 1
    y = torch.randint(0, 3, (tcfg.micro_batch,), generator=g)
    return step, infinite(lambda: (x, y))


def run(step: GANStep, real, iterations: int = 2) -> tuple[list[dict], dict]:
    stats = [step(real, t) for t in range(iterations)]
    return stats, {**{f"G.{k}": v for k, v in step.G.state_dict().items()},
                   **{f"D.{k}": v for k, v in step.D.state_dict().items()}}


def assert_close(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if a[k].is_floating_point():
            assert torch.allclose(a[k], b[k], atol=atol, rtol=atol), (k, (a[k] - b[k]).abs().max())


@pytest.fixture(scope="module")
def eager():
    return run(*make())


def test_channels_last_equals_the_default_step(eager):
    step, real = make(runtime={"channels_last": True})
    conv = next(m for m in step.D.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    stats, state = run(step, real)
    assert_close(state, eager[1], atol=1e-4)
    for s, e in zip(stats, eager[0]):
        assert s["d_loss"] == pytest.approx(e["d_loss"], abs=1e-4)


def test_compiled_step_equals_eager(eager):
    """aot_eager: dynamo's capture and aot_autograd's joint graphs (SN's buffer updates, D
    frozen in the G step) without inductor's code generation, which takes minutes here; with
    inductor the same check passed at 1e-4 too (6.5 min on a busy 2-core Xeon)."""
    torch._dynamo.reset()
    step, real = make(runtime={"compile": True, "compile_backend": "aot_eager"})
    assert isinstance(step._d_fwd, torch._dynamo.eval_frame.OptimizedModule)
    stats, state = run(step, real)
    assert_close(state, eager[1], atol=1e-4)
    for s, e in zip(stats, eager[0]):
        assert s["g_loss"] == pytest.approx(e["g_loss"], abs=1e-4)


def test_compile_with_r1_leaves_the_d_step_eager():
    """R1 takes the gradient of D's gradient; aot_autograd has no double backward."""
    step = make(r1_gamma=1.0, runtime={"compile": True})[0]
    assert step._d_fwd is step.D
    assert isinstance(step._g_fwd, torch._dynamo.eval_frame.OptimizedModule)


def test_fp16_scales_losses_and_skips_overflowing_steps(eager):
    """GradScaler starts at 2^16 and halves at each step whose scaled gradients overflow fp16,
    skipping it: the applied steps are the steps taken less the halvings."""
    step, real = make(precision="fp16")
    stats, state = run(step, real, iterations=4)
    assert step._scale_d.is_enabled() and step._scale_g.is_enabled()
    for scaler, opt, taken in ((step._scale_d, step.opt_d, 8), (step._scale_g, step.opt_g, 4)):
        skipped = round(math.log2(2.0 ** 16 / scaler.get_scale()))
        applied = opt.state[opt.param_groups[0]["params"][0]]["step"]
        assert 0 < applied == taken - skipped, (applied, taken, skipped)
    assert all(v.isfinite().all() for v in state.values() if v.is_floating_point())
    assert all(s["d_loss"] == s["d_loss"] for s in stats)


def test_fp16_skips_a_step_with_inf_gradients():
    step, _ = make(precision="fp16")
    d0 = copy.deepcopy(dict(step.D.named_parameters()))
    x = torch.full((4, 3, 16, 16), float("inf"))
    step.d_step(infinite(lambda: (x, torch.zeros(4, dtype=torch.int64))))
    assert step._scale_d.get_scale() == 2.0 ** 15             # backed off ...
    for k, v in step.D.named_parameters():                   # ... and D's weights left as they were
        assert torch.equal(v, d0[k]), k


def test_precision_resolution():
    cpu = torch.device("cpu")
    assert autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("bf16", cpu) is torch.bfloat16
    assert autocast_dtype("fp16", cpu) is torch.float16
    assert autocast_dtype("mixed", cpu) is torch.bfloat16     # CPU autocast has bf16


def test_ddp_backend_and_timeout_reach_ray():
    assert torch_config(RuntimeConfig()).backend is None and torch_config(RuntimeConfig()).timeout_s == 1800
    tc = torch_config(RuntimeConfig(ddp_backend="gloo", ddp_timeout_s=120))
    assert (tc.backend, tc.timeout_s) == ("gloo", 120)


def test_nccl_without_gpus_is_refused():
    with pytest.raises(ValueError, match="runtime.ddp_backend 'nccl' needs use_gpu: true"):
        TrainConfig.model_validate({"runtime": {"ddp_backend": "nccl"}})
    assert TrainConfig.model_validate({"runtime": {"ddp_backend": "nccl"}, "use_gpu": True}).runtime.ddp_backend == "nccl"


def test_default_sections_stay_out_of_dumps():
    """Run names hash the train dump: the options' defaults must not change the hash of runs
    configured before the options existed; a non-default value must."""
    assert not {"runtime", "loader"} & set(TrainConfig().model_dump(mode="json"))
    dump = TrainConfig.model_validate({"runtime": {"compile": True}, "loader": {"workers": 2}}).model_dump(mode="json")
    assert dump["runtime"]["compile"] is True and dump["loader"]["workers"] == 2
    assert TrainConfig.model_validate(dump) == TrainConfig.model_validate({"runtime": {"compile": True},
                                                                            "loader": {"workers": 2}})
