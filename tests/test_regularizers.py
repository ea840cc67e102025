import pytest
import torch

from biggan.config.model import ModelConfig
from biggan.models import build_generator
from biggan.regularizers import (apply_ortho_, clamp_sigma_, ortho_grad, ortho_params, ortho_value,
                                 r1_penalty)


def halved(w: torch.Tensor) -> torch.Tensor:
    """The penalty whose gradient the author's code adds, with the full Gram matrix:
    1/2 ||W W^T (.) (1 - I)||_F^2."""
    W = w.reshape(w.shape[0], -1)
    gram = W @ W.t()
    return 0.5 * (gram * (1 - torch.eye(W.shape[0], dtype=W.dtype))).pow(2).sum()


def authors_ortho_grad(w: torch.Tensor, strength: float) -> torch.Tensor:
    """BigGAN-PyTorch utils.ortho: grad += strength * 2 * ((W W^T) (.) (1 - I)) W (W as (out, -1))."""
    W = w.reshape(w.shape[0], -1)
    return (2 * strength * ((W @ W.t()) * (1.0 - torch.eye(W.shape[0], dtype=W.dtype))) @ W).view_as(w)


@pytest.mark.parametrize("shape", [(64, 5), (5, 64), (16, 8, 3, 3), (12, 12)])
def test_ortho_value_and_gradient_match_autograd(shape):
    torch.manual_seed(0)
    w = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    ref = halved(w)
    (ref_grad,) = torch.autograd.grad(ref, w)
    assert ortho_value(w.detach()).item() == pytest.approx(ref.item(), rel=1e-10)
    assert torch.allclose(ortho_grad(w.detach()), ref_grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", [(64, 5), (5, 64), (16, 8, 3, 3)])
def test_apply_ortho_adds_the_authors_gradient_at_the_same_beta(shape):
    # train.ortho.beta means the author's beta: 1e-4 adds 2e-4 ((W W^T)(1-I)) W, not twice that
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(*shape))
    p.grad = torch.zeros_like(p)
    apply_ortho_([p], beta=1e-4)
    ref = authors_ortho_grad(p.detach().double(), 1e-4)
    k = p[0].numel() + p.shape[0]                          # products summed per entry
    assert torch.allclose(p.grad.double(), ref, rtol=float_tol(torch.float32, k),
                          atol=float_tol(torch.float32, k) * ref.abs().max().item())


def float_tol(dtype: torch.dtype, terms: int) -> float:
    """Rounding bound of a sum of `terms` unit-scale products in `dtype`."""
    return terms * torch.finfo(dtype).eps


def test_ortho_of_orthogonal_rows_is_zero():
    torch.manual_seed(0)
    out, n = 64, 256
    q = torch.linalg.qr(torch.randn(n, out))[0].t()       # (64, 256) orthonormal rows, float32
    # each off-diagonal w_i . w_j of unit rows is within n eps of 0
    entry = float_tol(q.dtype, n)
    value = ortho_value(q).item()
    assert 0.0 <= value <= 0.5 * out * (out - 1) * entry ** 2
    assert ortho_grad(q).abs().max() <= 2 * out * entry


def test_tall_value_does_not_cancel():
    # rows ~ 100 e_i (plus small noise) and zero rows: ||W^T W||^2 ~ 2e9 while the value is ~ 4,
    # so ||W^T W||^2 - sum ||w_i||^4 in float32 loses it entirely
    torch.manual_seed(0)
    w = torch.zeros(40, 20)
    w[:20] = 100 * torch.eye(20) + 1e-3 * torch.randn(20, 20)
    ref = halved(w.double()).item()
    assert ref > 1
    got = ortho_value(w)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(ref, rel=float_tol(torch.float32, 16))


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
    assert torch.allclose(w.grad, authors_ortho_grad(w.detach(), 1e-2), rtol=1e-5, atol=1e-9)
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


def test_sigma_clamp_is_identical_on_every_replica():
    # two DDP ranks hold the same weight but different RNG states: the clamp (iterative path,
    # min(out, in) > 256) must not depend on the RNG, or the replicas drift apart
    g = torch.Generator().manual_seed(0)
    U = torch.linalg.qr(torch.randn(400, 300, generator=g))[0]
    V = torch.linalg.qr(torch.randn(300, 300, generator=g))[0]
    S = torch.linspace(3.0, 0.1, 300)
    S[:2] = torch.tensor([6.0, 5.9])                      # close top pair: slow, start-dependent
    w = (U * S) @ V.t()
    clamped = []
    for rank_seed in (1, 2):
        torch.manual_seed(rank_seed)
        replica, state = w.clone(), {}
        for _ in range(3):                                 # cold start, then warm starts
            clamp_sigma_(replica, "fixed", 4.0, state=state, iters=1)
        clamped.append(replica)
    assert torch.equal(clamped[0], clamped[1])
    assert not torch.equal(clamped[0], w)
