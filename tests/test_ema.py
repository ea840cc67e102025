import torch

from biggan.config.model import ModelConfig
from biggan.ema import EMA, standing_stats
from biggan.models import build_generator


def tiny_g():
    torch.manual_seed(0)
    return build_generator(ModelConfig(resolution=16, ch=2, dim_z=12, n_classes=3, shared_dim=4, attention=[]))


def test_ema_copies_before_start_then_averages():
    G = tiny_g()
    ema = EMA(G, decay=0.9, start=5)
    with torch.no_grad():
        G.linear.weight.add_(1.0)
    ema.update(G, iteration=1)                          # before start: copy
    assert torch.equal(ema.model.linear.weight, G.linear.weight)
    old = ema.model.linear.weight.clone()
    with torch.no_grad():
        G.linear.weight.add_(1.0)
    ema.update(G, iteration=5)
    assert torch.allclose(ema.model.linear.weight, 0.9 * old + 0.1 * G.linear.weight)
    assert not any(p.requires_grad for p in ema.model.parameters())


def test_ema_buffer_policies():
    G = tiny_g()
    for policy, expect in (("copy", 2.0), ("average", 0.5 * 0 + 0.5 * 2.0)):
        ema = EMA(G, decay=0.5, start=0, buffers=policy)
        ema.model.out_bn.running_mean.zero_()
        G.out_bn.running_mean.fill_(2.0)
        ema.update(G, iteration=10)
        assert torch.allclose(ema.model.out_bn.running_mean, torch.full_like(G.out_bn.running_mean, expect))


def test_standing_stats_are_the_mean_of_batch_stats():
    G = tiny_g()
    gen = torch.Generator().manual_seed(1)
    batches = [(torch.randn(8, 12, generator=gen), torch.randint(0, 3, (8,), generator=gen)) for _ in range(4)]
    # expected: average over passes of the batch mean feeding the output BN
    feats = []
    hook = G.out_bn.register_forward_hook(lambda m, i, o: feats.append(i[0].mean((0, 2, 3))))
    it = iter(batches)
    u_before = G.linear.sn_u.clone()
    standing_stats(G, lambda: next(it), passes=4)
    hook.remove()
    assert torch.allclose(G.out_bn.running_mean, torch.stack(feats).mean(0), atol=1e-5)
    assert not G.training and not G.out_bn.training
    assert torch.equal(G.linear.sn_u, u_before)          # SN power iteration left untouched
    assert G.out_bn.momentum == 0.1                       # restored


def test_multi_tensor_update_equals_the_per_tensor_formula():
    # theta_ema <- decay theta_ema + (1 - decay) theta for every parameter; buffers by policy
    for policy in ("copy", "average"):
        G = tiny_g()
        ema = EMA(G, decay=0.75, start=0, buffers=policy)
        with torch.no_grad():
            for p in G.parameters():
                p.add_(torch.randn_like(p))
            for b in G.buffers():
                b.add_(3) if b.is_floating_point() else b.add_(2)
        before = {k: v.clone() for k, v in ema.model.state_dict().items()}
        ema.update(G, iteration=3)
        params = {n for n, _ in G.named_parameters()}
        for name, now in G.state_dict().items():
            old, got = before[name], ema.model.state_dict()[name]
            if name in params or (policy == "average" and now.is_floating_point()):
                want = torch.lerp(old, now, 0.25)
            else:
                want = now
            assert torch.allclose(got, want, rtol=1e-6, atol=1e-7), (policy, name)
