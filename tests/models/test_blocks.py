import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from biggan.config.model import ModelConfig
from biggan.models import build_discriminator, build_generator
from biggan.models.blocks import DBlock, GBlock, make_cbn_factory
from biggan.models.spectral import LayerFactory
from biggan.models.resample_conv import conv3x3_pool2, up2_conv3x3


def up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def reference(x, w, b):
    return F.conv2d(up(x), w, b, padding=1)


def reference_down(x, w, b):
    return F.avg_pool2d(F.conv2d(x, w, b, padding=1), 2)


def summation_bound(x, w, b, g, dtype, ref=reference):
    """Worst-case rounding bounds for y, dL/dx, dL/dw (L = <g, y>): 2 n eps sum|terms|.

    Both implementations sum the same exact terms in a different order; each is within
    n eps sum|terms| of the exact sum for n terms (Higham's gamma_n, n eps << 1). The sums of
    |terms| are the reference evaluated on |x|, |w|, |b|, |g| (up and average pool are sums
    with positive weights, so they keep |terms| whole).
    """
    xa, wa = x.detach().abs().requires_grad_(), w.detach().abs().requires_grad_()
    ya = ref(xa, wa, None if b is None else b.detach().abs())
    (ya * g.abs()).sum().backward()
    B, C, H, W = x.shape
    # terms per output element (the larger of the two implementations' counts)
    if ref is reference:
        n_y, n_gx, n_gw = 9 * C + 1, 4 * 9 * w.shape[0], B * 4 * H * W
    else:
        n_y, n_gx, n_gw = 4 * 9 * C + 1, 9 * w.shape[0], B * H * W
    eps = torch.finfo(dtype).eps
    return tuple(2 * n * eps * a for n, a in ((n_y, ya.detach()), (n_gx, xa.grad), (n_gw, wa.grad)))


# the fast implementation, its textbook reference, the output size from the input's
CASES = {"up": (up2_conv3x3, reference, lambda h, w: (2 * h, 2 * w)),
         "down": (conv3x3_pool2, reference_down, lambda h, w: (h // 2, w // 2))}
SHAPES = [("up", (2, 3, 4, 4, 5)), ("up", (1, 8, 5, 7, 2)), ("up", (3, 16, 8, 8, 16)), ("up", (2, 4, 1, 1, 3)),
          ("down", (2, 3, 4, 4, 5)), ("down", (1, 8, 6, 8, 2)), ("down", (3, 16, 16, 16, 16)), ("down", (2, 4, 2, 2, 3))]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case,shape", SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_resampling_conv_equals_its_textbook_form(case, shape, dtype, bias):
    fast, ref, out_hw = CASES[case]
    B, C, H, W, O = shape
    gen = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(B, C, H, W, generator=gen, dtype=dtype, requires_grad=True)
    w = torch.randn(O, C, 3, 3, generator=gen, dtype=dtype, requires_grad=True)
    b = torch.randn(O, generator=gen, dtype=dtype, requires_grad=True) if bias else None
    g = torch.randn(B, O, *out_hw(H, W), generator=gen, dtype=dtype)

    got = fast(x, w, b)
    got_gx, got_gw = torch.autograd.grad(got, (x, w), g)
    want = ref(x, w, b)
    want_gx, want_gw = torch.autograd.grad(want, (x, w), g)
    tol_y, tol_gx, tol_gw = summation_bound(x, w, b, g, dtype, ref)

    assert got.shape == want.shape == (B, O, *out_hw(H, W))
    assert ((got - want).abs() <= tol_y).all()
    assert ((got_gx - want_gx).abs() <= tol_gx).all()
    assert ((got_gw - want_gw).abs() <= tol_gw).all()
    if bias:
        (got_gb,) = torch.autograd.grad(fast(x, w, b), b, g)
        assert torch.allclose(got_gb, g.sum((0, 2, 3)), rtol=0, atol=float(tol_gw.max()))


@pytest.mark.parametrize("case", CASES)
def test_resampling_conv_bound_catches_a_wrong_kernel(case):
    # the tolerance above is far below the size of a real mistake (w flipped: taps mis-summed)
    fast, ref, out_hw = CASES[case]
    gen = torch.Generator().manual_seed(0)
    x, w = torch.randn(2, 8, 4, 4, generator=gen), torch.randn(5, 8, 3, 3, generator=gen)
    g = torch.ones(2, 5, *out_hw(4, 4))
    tol_y = summation_bound(x, w, None, g, torch.float32, ref)[0]
    assert ((fast(x, w.flip(-1), None) - ref(x, w, None)).abs() > tol_y).any()


@pytest.mark.parametrize("case", CASES)
def test_resampling_conv_under_bf16_autocast_matches_the_reference_dtype_and_values(case):
    fast, ref, _ = CASES[case]
    gen = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(2, 8, 4, 4, generator=gen), torch.randn(6, 8, 3, 3, generator=gen), torch.randn(6, generator=gen)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got, want = fast(x, w, b), ref(x, w, b)
    assert got.dtype == want.dtype == torch.bfloat16
    # both round inputs to bf16 (8 bits): a few units of bf16 eps, relative to the output scale
    eps = torch.finfo(torch.bfloat16).eps
    assert ((got.float() - want.float()).abs() <= 4 * eps * want.float().abs().max()).all()


def test_up2_conv3x3_rejects_other_kernels():
    with pytest.raises(ValueError, match=r"3x3 kernel.*\(4, 2, 5, 5\)"):
        up2_conv3x3(torch.randn(1, 2, 4, 4), torch.randn(4, 2, 5, 5), None)


def test_conv3x3_pool2_rejects_other_kernels_and_odd_sizes():
    with pytest.raises(ValueError, match=r"3x3 kernel.*\(4, 2, 5, 5\)"):
        conv3x3_pool2(torch.randn(1, 2, 4, 4), torch.randn(4, 2, 5, 5), None)
    with pytest.raises(ValueError, match=r"even height and width.*\(1, 2, 5, 4\)"):
        conv3x3_pool2(torch.randn(1, 2, 5, 4), torch.randn(4, 2, 3, 3), None)


@pytest.mark.parametrize("sn", [True, False])
@pytest.mark.parametrize("preactivation", [True, False])
def test_dblock_equals_conv_then_average_pool(sn, preactivation):
    # the block against its textbook form on the same weights, values and gradients (fp32);
    # and its conv FLOPs: conv2 as 4x4 taps per output pixel, conv_sc on the pooled input
    torch.manual_seed(0)
    B, C, O, H = 3, 4, 6, 8
    block, twin = (DBlock(C, O, LayerFactory(sn), True, preactivation) for _ in range(2))
    twin.load_state_dict(block.state_dict())
    x = torch.randn(B, C, H, H)
    with FlopCounterMode(display=False) as counter:
        got = block(x)
    convs = sum(n for op, n in counter.get_flop_counts()["Global"].items() if "conv" in str(op))
    assert convs == 2 * B * (C * O * 9 * H * H + O * O * 16 * H * H // 4 + C * O * H * H // 4)

    h = F.relu(x) if preactivation else x
    want = F.avg_pool2d(twin.conv2(F.relu(twin.conv1(h))), 2) + twin.conv_sc(F.avg_pool2d(x, 2))
    got.square().sum().backward()
    want.square().sum().backward()
    n_eps = B * H * H * 16 * torch.finfo(torch.float32).eps
    assert torch.allclose(got, want, rtol=0, atol=n_eps * want.abs().max().item())
    scale = max(q.grad.abs().max().item() for q in twin.parameters())
    for (name, p), q in zip(block.named_parameters(), twin.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=0, atol=n_eps * scale), name


def make_block(sn: bool, cin: int = 8, cout: int = 6) -> GBlock:
    layers = LayerFactory(sn)
    return GBlock(cin, cout, layers, make_cbn_factory(layers, 4, None, 1e-5, True))


def test_gblock_convolves_at_the_low_resolution():
    # FLOPs of the block's convs: conv1 as 4x4 taps per input pixel (not 3x3 per output
    # pixel), conv_sc on the H x W input (not the 2H x 2W upsample), conv2 unchanged
    B, C, O, H = 2, 8, 6, 4
    block = make_block(sn=True, cin=C, cout=O)
    x, vec = torch.randn(B, C, H, H), torch.randn(B, 4)
    with FlopCounterMode(display=False) as counter:
        block(x, None, vec)
    convs = {str(op): n for op, n in counter.get_flop_counts()["Global"].items() if "conv" in str(op)}
    assert sum(convs.values()) == 2 * B * (C * O * 16 * H * H + O * O * 9 * 4 * H * H + C * O * H * H)


@pytest.mark.parametrize("sn", [True, False])
def test_gblock_equals_upsample_then_convs(sn):
    # fp32 (SN runs its power iteration in fp32). Tolerance n eps scale: n the most terms in
    # one sum (a weight gradient sums over B x 2H x 2W pixels), scale the largest value of the
    # kind compared (one scale for all gradients: conv1.bias feeds BN, its gradient is
    # rounding noise around 0 on both sides)
    torch.manual_seed(0)
    block, twin = make_block(sn), make_block(sn)
    twin.load_state_dict(block.state_dict())
    B, C, H = 3, 8, 4
    x, vec = torch.randn(B, C, H, H), torch.randn(B, 4)

    got = block(x, None, vec)
    h = F.relu(twin.bn1(x, None, vec))
    h = twin.conv2(F.relu(twin.bn2(twin.conv1(up(h)), None, vec)))
    want = h + twin.conv_sc(up(x))
    got.square().sum().backward()
    want.square().sum().backward()
    n_eps = B * 4 * H * H * torch.finfo(torch.float32).eps
    assert torch.allclose(got, want, rtol=0, atol=n_eps * want.abs().max().item())
    scale = max(q.grad.abs().max().item() for q in twin.parameters())
    for (name, p), q in zip(block.named_parameters(), twin.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=0, atol=n_eps * scale), name


def twins(build):
    """A 32 px model (with attention) and a second one loaded with its weights: a strict
    state_dict load, so the fast blocks keep the textbook blocks' keys."""
    cfg = ModelConfig(resolution=32, ch=4, dim_z=20, n_classes=5, shared_dim=8, attention=[16])
    torch.manual_seed(0)
    model = build(cfg)
    torch.manual_seed(1)
    twin = build(cfg)
    twin.load_state_dict(model.state_dict())
    return model, twin


def test_generator_output_equals_upsample_then_convs(monkeypatch):
    # the whole G on the same weights (strict state_dict load: keys unchanged), fp32; output
    # in [-1, 1], tolerance: the largest conv fan-in (9 x 16 channels) x eps
    G, twin = twins(build_generator)
    z, y = torch.randn(4, 20), torch.tensor([0, 1, 3, 4])
    got = G(z, y)

    def textbook(self, x, onehot, vec):
        h = self.conv1(up(F.relu(self.bn1(x, onehot, vec))))
        return self.conv2(F.relu(self.bn2(h, onehot, vec))) + self.conv_sc(up(x))

    monkeypatch.setattr(GBlock, "forward", textbook)
    want = twin(z, y)
    assert torch.allclose(got, want, rtol=0, atol=9 * 16 * torch.finfo(torch.float32).eps)
    assert not torch.equal(got, G(torch.randn(4, 20), y))   # the comparison is not vacuous


def test_discriminator_output_equals_conv_then_average_pool(monkeypatch):
    # the whole D on the same weights (strict state_dict load: keys unchanged), fp32
    D, twin = twins(build_discriminator)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 3, 4])
    got = D(x, y)

    def textbook(self, x):
        h = self.conv2(F.relu(self.conv1(F.relu(x) if self.preactivation else x)))
        return (F.avg_pool2d(h, 2) if self.down else h) + self.shortcut(x)

    monkeypatch.setattr(DBlock, "forward", textbook)
    want = twin(x, y)
    assert torch.allclose(got, want, rtol=1e-5, atol=16 * 9 * 16 * torch.finfo(torch.float32).eps)
    assert not torch.equal(got, D(torch.randn(4, 3, 32, 32), y))
