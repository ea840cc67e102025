import pytest
import torch

from biggan.config.model import ModelConfig, SpectralNormConfig
from biggan.models import build_discriminator, build_generator
from biggan.models.norm import ConditionalBatchNorm2d


def tiny(**kw) -> ModelConfig:
    base = dict(resolution=16, ch=4, dim_z=12, n_classes=5, shared_dim=8, attention=[8])
    return ModelConfig(**{**base, **kw})


@pytest.mark.parametrize("shared,hier", [(True, True), (True, False), (False, False), (False, True)])
def test_shapes_and_range(shared, hier):
    torch.manual_seed(0)
    cfg = tiny(shared=shared, hier=hier)
    G, D = build_generator(cfg), build_discriminator(cfg)
    z, y = torch.randn(6, 12), torch.randint(0, 5, (6,))
    x = G(z, y)
    assert x.shape == (6, 3, 16, 16) and x.abs().max() <= 1
    out = D(x, y)
    assert out.shape == (6,) and torch.isfinite(out).all()
    (out.mean()).backward()
    assert all(p.grad is not None for p in D.parameters() if p.requires_grad)


def test_class_embedding_path_equals_label_path():
    torch.manual_seed(0)
    for shared in (True, False):
        G = build_generator(tiny(shared=shared)).eval()
        z, y = torch.randn(3, 12), torch.tensor([0, 3, 4])
        assert torch.allclose(G(z, y), G(z, class_emb=G.class_embedding(y)))


def test_cbn_gain_is_one_centred():
    cbn = ConditionalBatchNorm2d(3, linear_in=4, n_classes=None,
                                 make_linear=lambda i, o, bias: torch.nn.Linear(i, o, bias=bias))
    torch.nn.init.zeros_(cbn.gain.weight)
    torch.nn.init.zeros_(cbn.bias.weight)
    x = torch.randn(8, 3, 4, 4)
    out = cbn(x, None, torch.randn(8, 4))
    ref = torch.nn.functional.batch_norm(x, None, None, training=True, eps=cbn.eps)
    assert torch.allclose(out, ref, atol=1e-5)   # zero linears -> gain 1, bias 0: plain BN
    cbn.one_centred = False
    assert torch.allclose(cbn(x, None, torch.randn(8, 4)), torch.zeros_like(x))


def with_spectrum(shape: torch.Size, spectrum: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A weight of `shape` whose (out, -1) reshape has exactly the singular values `spectrum`."""
    m, n = shape[0], int(torch.tensor(shape[1:]).prod())
    k = min(m, n)
    U = torch.linalg.qr(torch.randn(m, k, generator=gen))[0]
    V = torch.linalg.qr(torch.randn(n, k, generator=gen))[0]
    return ((U * spectrum[:k]) @ V.t()).reshape(shape)


def test_spectral_norm_normalises_top_singular_value():
    # distinct singular values (4, 2, 1, 0.5, ...): W / sigma0 must have spectrum S / 4, which
    # fails without power iteration (random u) or with a wrong (out, -1) reshape of the conv kernel
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    G = build_generator(tiny(sn=SpectralNormConfig(num_itrs=1)))
    G.train()
    for layer in (G.linear, G.blocks[0][0].conv1):
        w = layer.weight
        k = min(w.shape[0], w[0].numel())
        spectrum = 4.0 * 0.5 ** torch.arange(k, dtype=torch.float32)
        with torch.no_grad():
            w.copy_(with_spectrum(w.shape, spectrum, gen))
        for _ in range(30):   # the persistent u converges over forward passes (ratio 1/2 per step)
            layer.normalized_weight()
        assert layer.sn_sigma.item() == pytest.approx(4.0, rel=1e-4)
        got = torch.linalg.svdvals(layer.normalized_weight().detach().reshape(w.shape[0], -1))
        assert torch.allclose(got, spectrum / 4.0, rtol=1e-4, atol=1e-6)


def test_no_sn_switch_builds_plain_layers():
    G = build_generator(tiny(sn=SpectralNormConfig(g=False)))
    D = build_discriminator(tiny(sn=SpectralNormConfig(d=False)))
    assert not any("sn_u" in n for n, _ in G.named_buffers())
    assert not any("sn_u" in n for n, _ in D.named_buffers())


def test_attention_placement():
    cfg = tiny(attention=[8])
    G, D = build_generator(cfg, "meta"), build_discriminator(cfg, "meta")
    assert [len(s) for s in G.blocks] == [2, 1]          # G: after the 4->8 block
    assert [len(s) for s in D.blocks] == [2, 1, 1]       # D: after the 16->8 block


def test_attention_per_network():
    # the mapping form places G's and D's attention independently (released BigGAN-256: G 128, D 64)
    cfg = tiny(attention={"g": [16], "d": [4]})
    assert (cfg.g_attention, cfg.d_attention) == ([16], [4])
    G, D = build_generator(cfg, "meta"), build_discriminator(cfg, "meta")
    assert [len(s) for s in G.blocks] == [1, 2]          # G: after the 8->16 block only
    assert [len(s) for s in D.blocks] == [1, 2, 2]       # D: after both 4x4 blocks
    cfg = tiny(attention={"g": [8], "d": []})
    G, D = build_generator(cfg, "meta"), build_discriminator(cfg, "meta")
    assert [len(s) for s in G.blocks] == [2, 1] and [len(s) for s in D.blocks] == [1, 1, 1]


def test_orthogonal_init():
    G = build_generator(tiny())
    w = G.linear.weight                                   # (16 ch * 4 * 4, z chunk 4): orthonormal columns
    assert torch.allclose(w.t() @ w, torch.eye(w.shape[1]), atol=1e-5)
