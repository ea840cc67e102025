"""The spectral-norm layers against the textbook formula, computed with plain autograd."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from biggan.models.spectral import SNConv2d, SNEmbedding, SNLinear


def reference(w: torch.Tensor, u: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One power iteration from u, then W / (u'^T W v) with autograd through W: (W_bar, u', sigma)."""
    w_mat = w.reshape(w.shape[0], -1)
    with torch.no_grad():
        v = F.normalize(w_mat.t() @ u, dim=0, eps=eps)
        u = F.normalize(w_mat @ v, dim=0, eps=eps)
    sigma = torch.dot(u, w_mat @ v)
    return w / sigma, u, sigma


@pytest.mark.parametrize("make", [lambda: SNConv2d(5, 7, 3), lambda: SNConv2d(12, 3, 1),
                                  lambda: SNLinear(9, 4), lambda: SNEmbedding(10, 6)])
def test_forward_backward_and_u_update_match_the_formula(make):
    torch.manual_seed(0)
    layer = make().train()
    u0 = layer.sn_u.clone()
    w_ref = layer.weight.detach().clone().requires_grad_(True)
    want, want_u, want_sigma = reference(w_ref, u0, layer.sn_eps)

    got = layer.normalized_weight()
    assert torch.allclose(got, want, rtol=1e-6, atol=1e-7)
    assert torch.allclose(layer.sn_u, want_u, rtol=1e-6, atol=1e-7)   # u persisted
    assert layer.sn_sigma.item() == pytest.approx(want_sigma.item(), rel=1e-6)

    g = torch.randn_like(want)
    (got * g).sum().backward()
    (want * g).sum().backward()
    assert torch.allclose(layer.weight.grad, w_ref.grad, rtol=1e-5, atol=1e-6)


def test_eval_mode_leaves_u_and_sigma_alone():
    torch.manual_seed(0)
    layer = SNLinear(6, 5).eval()
    u, sigma = layer.sn_u.clone(), layer.sn_sigma.clone()
    w_bar = layer.normalized_weight()
    assert torch.equal(layer.sn_u, u) and torch.equal(layer.sn_sigma, sigma)
    assert torch.allclose(w_bar, reference(layer.weight.detach(), u, layer.sn_eps)[0], rtol=1e-6)


def test_conv_gradients_through_a_real_forward_match_the_formula():
    # the layer's output (channels-last weight inside) and W's gradient equal plain autograd's
    torch.manual_seed(0)
    conv = SNConv2d(4, 6, 3).train()
    x = torch.randn(2, 4, 8, 8)
    u0 = conv.sn_u.clone()
    w_ref = conv.weight.detach().clone().requires_grad_(True)
    want = F.conv2d(x, reference(w_ref, u0, conv.sn_eps)[0], conv.bias.detach(), padding=1)
    got = conv(x)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)
    got.square().sum().backward()
    want.square().sum().backward()
    assert torch.allclose(conv.weight.grad, w_ref.grad, rtol=1e-4, atol=1e-5)


def test_conv_weights_are_handed_to_the_convolution_channels_last():
    # oneDNN's CPU convolutions are faster in that layout (BENCHMARKS.md); the parameter keeps its own
    conv = SNConv2d(4, 6, 3).train()
    assert conv.normalized_weight().is_contiguous(memory_format=torch.channels_last)
    assert conv.weight.is_contiguous()
