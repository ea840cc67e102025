"""Cross-replica BN over 2 gloo processes equals single-process BN on the concatenated batch."""
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from biggan.config.model import ModelConfig
from biggan.models import build_generator
from biggan.parallel.cross_replica import enable_cross_replica_bn

CFG = ModelConfig(resolution=16, ch=2, dim_z=12, n_classes=3, shared_dim=4, attention=[8])
B = 4  # per rank


def inputs():
    g = torch.Generator().manual_seed(7)
    return torch.randn(2 * B, 12, generator=g), torch.randint(0, 3, (2 * B,), generator=g)


def model():
    torch.manual_seed(0)
    return build_generator(CFG).train()


def loss_of(x: torch.Tensor, n_total: int) -> torch.Tensor:
    w = torch.linspace(-1, 1, x[0].numel()).view_as(x[0])   # an arbitrary non-trivial loss
    return (x * w).sum() / n_total


def worker(rank: int, port: int, out: str):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.set_num_threads(1)
    G = model()
    assert enable_cross_replica_bn(G) > 0
    z, y = inputs()
    zl, yl = z[rank * B:(rank + 1) * B], y[rank * B:(rank + 1) * B]
    x = G(zl, yl)
    loss_of(x, 2 * B).backward()
    grads = {n: p.grad.clone() for n, p in G.named_parameters()}
    for g in grads.values():                 # what DDP does: sum gradients over replicas
        dist.all_reduce(g)
    torch.save({"x": x.detach(), "grads": grads, "rm": G.out_bn.running_mean.clone(),
                "rv": G.out_bn.running_var.clone()}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cross_replica_bn_equals_global_batch_norm(tmp_path):
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    G = model()
    z, y = inputs()
    x = G(z, y)
    loss_of(x, 2 * B).backward()
    r = [torch.load(tmp_path / f"rank{i}.pt") for i in range(2)]
    assert torch.allclose(torch.cat([r[0]["x"], r[1]["x"]]), x.detach(), atol=1e-5)
    # biases that feed a BN have zero true gradient: their values are summation-order noise
    # (channels-last convolutions sum in another order), so atol scales with the largest gradient
    scale = max(p.grad.abs().max().item() for p in G.parameters())
    for name, p in G.named_parameters():
        for i in range(2):
            assert torch.allclose(r[i]["grads"][name], p.grad, atol=1e-5 * scale, rtol=1e-4), name
    assert torch.allclose(r[0]["rm"], G.out_bn.running_mean, atol=1e-6)
    assert torch.allclose(r[0]["rv"], G.out_bn.running_var, atol=1e-5)


def test_without_process_group_it_is_a_no_op():
    assert enable_cross_replica_bn(model()) == 0
