import pytest
import torch

from biggan.config.model import ModelConfig
from biggan.models import build_generator
from biggan.regularizers import (apply_ortho_, clamp_sigma_, ortho_grad, ortho_params, ortho_value,
                                 r1_penalty)


def direct(w: torch.Tensor) -> torch.Tensor:
    """The paper's formula, building the full Gram matrix: ||W W^T (.) (1 - I)||_F^2."""
    W = w.reshape(w.shape[0], -1)
    gram = W @ W.t()
    return (gram * (1 - torch.eye(W.shape[0], dtype=W.dtype))).pow(2).sum()


@pytest.mark.parametrize("shape", [(64, 5), (5, 64), (16, 8, 3, 3), (12, 12)])
def test_ortho_value_and_gradient_match_autograd(shape):
    torch.manual_seed(0)
    w = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    ref = direct(w)
    (ref_grad,) = torch.autograd.grad(ref, w)
    assert ortho_value(w.detach()).item() == pytest.approx(ref.item(), rel=1e-10)
    assert torch.allclose(ortho_grad(w.detach()), ref_grad, rtol=1e-10, atol=1e-10)


def test_ortho_of_orthogonal_rows_is_zero():
    q = torch.linalg.qr(torch.randn(20, 8))[0].t()        # (8, 20) orthonormal rows
    assert ortho_value(q).item() == pytest.approx(0.0, abs=1e-8)
    assert ortho_grad(q).abs().max() < 1e-5


def test_tall_first_linear_never_builds_big_gram(monkeypatch):
    # the 24576 x 20 first linear of the ch96 model: only a 20 x 20 Gram may appear
    w = torch.randn(24576, 20)
    seen = []
    real_matmul = torch.Tensor.__matmul__
    monkeypatch.setattr(torch.Tensor, "__matmul__",
                        lambda a, b: seen.append(real_matmul(a, b).shape) or real_matmul(a, b))
    ortho_value(w)
    ortho_grad(w)
    assert all(max(s) <= 24576 and min(s) <= 20 for s in seen)


def test_apply_ortho_adds_beta_times_gradient_and_skips_shared():
    torch.manual_seed(0)
    G = build_generator(ModelConfig(resolution=16, ch=2, dim_z=12, n_classes=3, shared_dim=4, attention=[]))
    params = ortho_params(G)
    ids = {id(p) for p in params}
    assert id(G.shared.weight) not in ids and id(G.linear.weight) in ids
    for p in G.parameters():
        p.grad = torch.zeros_like(p)
    value = apply_ortho_(params, beta=1e-2)
    assert value == pytest.approx(1e-2 * sum(ortho_value(p.detach()).item() for p in params), rel=1e-5)
    w = G.blocks[0][0].conv1.weight
    assert torch.allclose(w.grad, 1e-2 * ortho_grad(w.detach()))
    assert G.shared.weight.grad.abs().sum() == 0


def test_r1_penalty_matches_analytic_gradient():
    # D(x) = sum_i a_i x_i -> grad = a, R1 = gamma/2 ||a||^2
    a = torch.tensor([1.0, -2.0, 0.5])
    x = torch.randn(4, 3, requires_grad=True)
    d = x @ a
    assert r1_penalty(d, x, gamma=10.0).item() == pytest.approx(5.0 * a.pow(2).sum().item())


@pytest.mark.parametrize("mode,value,expect_sigma0", [("fixed", 7.0, 7.0), ("relative", 1.5, None)])
def test_sigma_clamp(mode, value, expect_sigma0):
    torch.manual_seed(0)
    U = torch.linalg.qr(torch.randn(30, 30))[0]
    V = torch.linalg.qr(torch.randn(20, 20))[0]
    S = torch.tensor([10.0, 4.0, 3.0] + [1.0] * 17)
    w = (U[:, :20] * S) @ V.t()
    before = clamp_sigma_(w, mode, value, state={})
    assert before == pytest.approx(10.0, rel=1e-4)
    s = torch.linalg.svdvals(w)
    assert s[0].item() == pytest.approx(expect_sigma0 or 1.5 * 4.0, rel=1e-4)
    assert torch.allclose(s[1:], S[1:], rtol=1e-4)        # the rest of the spectrum is untouched


def test_sigma_clamp_leaves_small_sigma_alone():
    w = torch.eye(5) * 0.5
    clamp_sigma_(w, "fixed", 1.0, state={})
    assert torch.allclose(w, torch.eye(5) * 0.5)
