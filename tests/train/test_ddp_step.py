"""GANStep under DDP on 2 gloo processes equals one process on the concatenated batch.

Both runs see the same global latents and real images (rank r takes slice r), with
cross-replica BN in G, R1 on D, 2 D steps, 2 accumulations, ortho reg and EMA: after two
full iterations G, D and G_ema agree, so DDP's gradient averaging, the no_sync accumulation,
R1's double backward under DDP and BN statistics across replicas compose correctly.
"""
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

from biggan.config.model import ModelConfig
from biggan.config.train import TrainConfig
from biggan.ema import EMA
from biggan.models import build_discriminator, build_generator
from biggan.parallel.cross_replica import enable_cross_replica_bn
from biggan.train.step import GANStep

MCFG = ModelConfig(resolution=16, ch=2, dim_z=12, n_classes=3, shared_dim=4, attention=[8])
WORLD, MICRO = 2, 3
KW = dict(num_d_steps=2, accumulate=2, r1_gamma=10.0)


class GlobalDraws:
    """Deterministic global batches; each rank takes its slice, one process takes all."""

    def __init__(self, rank: int | None):
        self.rank = rank
        self.g = torch.Generator().manual_seed(3)

    def _part(self, t: torch.Tensor) -> torch.Tensor:
        return t if self.rank is None else t[self.rank * MICRO:(self.rank + 1) * MICRO]

    def latents(self, n: int):
        z = torch.randn(WORLD * MICRO, MCFG.dim_z, generator=self.g)
        y = torch.randint(0, MCFG.n_classes, (WORLD * MICRO,), generator=self.g)
        return self._part(z), self._part(y)

    def reals(self):
        while True:
            x = torch.rand(WORLD * MICRO, 3, 16, 16, generator=self.g) * 2 - 1
            y = torch.randint(0, MCFG.n_classes, (WORLD * MICRO,), generator=self.g)
            yield self._part(x), self._part(y)


def build(world: int, rank: int | None):
    torch.manual_seed(0)
    cfg = TrainConfig(batch_size=WORLD * MICRO * 2, num_workers=world, **KW)
    G, D = build_generator(MCFG), build_discriminator(MCFG)
    ema = EMA(G, 0.5, 0)
    g_train = d_train = None
    if world > 1:
        assert enable_cross_replica_bn(G) > 0             # after the EMA copy: G_ema keeps local BN
        g_train, d_train = DDP(G), DDP(D)
    # SGD, not Adam: Adam's first steps are ~lr * sign(grad) and turn float noise into lr-sized gaps
    opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=0.05), torch.optim.SGD(D.parameters(), lr=0.05)
    step = GANStep(G, D, opt_g, opt_d, MCFG, cfg, ema=ema, g_train=g_train, d_train=d_train)
    draws = GlobalDraws(rank)
    step.latents = draws.latents
    real = draws.reals()
    stats = [step(real, i) for i in range(2)]
    return G, D, ema, stats


def worker(rank: int, port: int, out: str):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    G, D, ema, stats = build(WORLD, rank)
    torch.save({"G": G.state_dict(), "D": D.state_dict(), "ema": ema.state_dict(), "stats": stats},
               f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_ddp_gan_step_equals_single_process(tmp_path, free_port):
    mp.spawn(worker, args=(free_port, str(tmp_path)), nprocs=WORLD, join=True)
    G, D, ema, stats = build(1, None)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    assert stats[-1]["r1"] > 0
    for name, ref in [("G", G.state_dict()), ("D", D.state_dict()), ("ema", ema.state_dict())]:
        for k, v in ref.items():
            if not v.is_floating_point():
                continue
            for r in ranks:
                assert torch.allclose(r[name][k], v, atol=2e-5, rtol=1e-4), (name, k, (r[name][k] - v).abs().max())
    # the reported losses are rank-local means: their average is the global mean
    for key in ("d_loss", "g_loss", "r1"):
        mean = sum(r["stats"][-1][key] for r in ranks) / WORLD
        assert abs(mean - stats[-1][key]) < 1e-4 * max(1.0, abs(mean)), key
