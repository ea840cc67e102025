import copy

import pytest
import torch

from biggan.config.model import ModelConfig
from biggan.config.train import OrthoConfig, SigmaClampConfig, TrainConfig
from biggan.ema import EMA
from biggan.models import build_discriminator, build_generator
from biggan.train.step import GANStep, infinite, make_optimizers

MCFG = ModelConfig(resolution=16, ch=2, dim_z=12, n_classes=3, shared_dim=4, attention=[8])


def make(**train_kw):
    torch.manual_seed(0)
    tcfg = TrainConfig(**{"batch_size": 8, "num_workers": 1, **train_kw})
    G, D = build_generator(MCFG), build_discriminator(MCFG)
    opt_g, opt_d = make_optimizers(G, D, tcfg)
    step = GANStep(G, D, opt_g, opt_d, MCFG, tcfg, ema=EMA(G, 0.5, 0),
                   generator=torch.Generator().manual_seed(1))
    x = torch.rand(tcfg.micro_batch, 3, 16, 16) * 2 - 1
    y = torch.randint(0, 3, (tcfg.micro_batch,))
    return step, infinite(lambda: (x, y))


def test_iteration_updates_both_nets_and_ema():
    step, real = make(num_d_steps=2)
    g0, d0 = copy.deepcopy(step.G.state_dict()), copy.deepcopy(step.D.state_dict())
    stats = step(real, iteration=0)
    for k in ("d_loss_real", "d_loss_fake", "d_loss", "g_loss", "ortho", "step_time"):
        assert k in stats and stats[k] == stats[k]     # present, not NaN
    assert not torch.equal(g0["linear.weight"], step.G.linear.weight)
    assert not torch.equal(d0["linear.weight"], step.D.linear.weight)
    assert step.opt_d.state[step.D.linear.weight]["step"] == 2      # two D steps
    assert step.opt_g.state[step.G.linear.weight]["step"] == 1
    assert torch.allclose(step.ema.model.linear.weight, 0.5 * g0["linear.weight"] + 0.5 * step.G.linear.weight)
    assert all(p.requires_grad for p in step.D.parameters())        # D unfrozen after the G step


def test_ortho_switch_and_r1():
    step, real = make(ortho=OrthoConfig(enabled=False), r1_gamma=10.0)
    stats = step(real, 0)
    assert "ortho" not in stats and stats["r1"] > 0


def test_accumulation_counts_micro_batches():
    step, real = make(accumulate=2, batch_size=8)
    assert step.cfg.micro_batch == 4
    seen = []
    def counting():
        while True:
            b = next(real)
            seen.append(b[0].shape[0])
            yield b
    step(counting(), 0)
    assert seen == [4] * 4                      # 2 D steps x 2 accumulations


def test_sigma_clamp_caps_g_spectrum():
    # relative clamp at 1.0 x sigma1: after the step, every G layer has sigma0 == sigma1
    step, real = make(sigma_clamp=SigmaClampConfig(mode="relative", value=1.0))
    with torch.no_grad():
        for p in step.G.parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.02)                 # a spread spectrum (ortho init has all sigma = 1)
    step(real, 0)
    for name, p in step.G.named_parameters():
        if p.dim() >= 2 and not name.startswith("shared."):
            s = torch.linalg.svdvals(p.detach().reshape(p.shape[0], -1))
            if s.numel() > 1:
                assert s[0].item() == pytest.approx(s[1].item(), rel=1e-3), name


def test_bf16_autocast_runs():
    step, real = make(precision="bf16")
    stats = step(real, 0)
    assert torch.isfinite(torch.tensor(stats["g_loss"]))


def test_each_step_leaves_the_other_network_without_gradients():
    # D's step must not backpropagate into G (G runs under no_grad), nor G's step into D
    # (D frozen): stray gradients would leak into the next optimiser step or DDP's all-reduce
    step, real = make(ortho=OrthoConfig(enabled=False))
    step.d_step(real)
    assert all(p.grad is None for p in step.G.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in step.D.parameters())
    step.D.zero_grad(set_to_none=True)
    step.g_step()
    assert all(p.grad is None for p in step.D.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in step.G.parameters())


def test_fused_adam_equals_the_per_tensor_adam():
    # make_optimizers' fused Adam: the same update rule as torch's default loop, to rounding
    step, real = make(num_d_steps=1)
    assert step.opt_g.defaults["fused"] and step.opt_d.defaults["fused"]
    o = step.cfg.optim
    D_ref = copy.deepcopy(step.D)
    ref = torch.optim.Adam(D_ref.parameters(), lr=o.d_lr, betas=(o.beta1, o.beta2), eps=o.eps, foreach=False)
    gen = torch.Generator().manual_seed(3)
    for _ in range(3):
        for p, q in zip(step.D.parameters(), D_ref.parameters()):
            p.grad = torch.randn(p.shape, generator=gen)
            q.grad = p.grad.clone()
        step.opt_d.step()
        ref.step()
    for p, q in zip(step.D.parameters(), D_ref.parameters()):
        assert torch.allclose(p, q, rtol=1e-6, atol=1e-7)
