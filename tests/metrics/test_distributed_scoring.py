"""In-training IS/FID split over 2 gloo ranks equals one process scoring alone.

Each rank generates its block of the eval batches, extracts their features on its device
(the CPU here) and the features are all-gathered: the gathered features must be the
single-process ones, row for row, and the scores equal within float rounding. Then the same
through the training loop: 2 ranks train and evaluate together; rank 0's last recorded scores
must equal one process scoring the final G_ema alone.
"""
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from biggan.config import load_params
from biggan.data.digits import digits_images
from biggan.metrics.distributed import batch_block, generated_block
from biggan.metrics.feature_net import load_feature_net
from biggan.metrics.images import nhwc_batches
from biggan.metrics.refstats import compute_reference, reference_stats_path
from biggan.metrics.scorer import generated
from biggan.models import build_generator
from biggan.train.factories import EvalScorer, build_scorer
from biggan.train.job import TrainJob
from biggan.train.loop import run_loop
from biggan.train.monitoring import LatentSampler, evaluate
from tests.train.fakes import DigitsStream
from tests.train.specs import RES, tiny_spec

WORLD = 2
CPU = torch.device("cpu")
# (n, batch): 11 batches, the last of 3 samples, split 5 + 6; one batch: rank 0 holds none
CASES = [(203, 20), (7, 50)]
SEED, STANDING = 11, 2
LOOP = {"launcher": "ray", "num_workers": WORLD, "iterations": 4, "batch_size": 8, "evaluate": True,
        "eval_every": 2, "eval_samples": 45, "eval_standing_passes": STANDING, "checkpoint_every": 4,
        "sv_every": 2, "log_every": 2}


@pytest.fixture(scope="module")
def factory(trained_digits, tmp_path_factory):
    """The training job's real scorer factory over the trained digits net and fresh reference stats."""
    _, params, _ = trained_digits
    cfg = load_params(params).eval.model_copy(update={"is_splits": 5, "pr_samples": 300,
                                                      "refstats_dir": str(tmp_path_factory.mktemp("refstats"))})
    train, _ = digits_images("train", 32)
    ref, _ = compute_reference(load_feature_net(cfg), nhwc_batches(train, 200), None, cfg, progress=False)
    ref.save(reference_stats_path(cfg, "d16"))
    return EvalScorer(cfg, "d16")


def generator() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_generator(tiny_spec().model).eval()


def sampler(G: torch.nn.Module) -> LatentSampler:
    m = tiny_spec().model
    return LatentSampler(G, m.dim_z, m.n_classes, SEED, CPU)


def score(scorer, G: torch.nn.Module, n: int, bs: int) -> dict:
    m = tiny_spec().model
    return evaluate(scorer, G, m.dim_z, m.n_classes, n, bs, SEED, CPU, standing_passes=STANDING, standing_batch=8)


@dataclass(frozen=True)
class Counting:
    """The scorer factory, each rank noting how many images every feature extraction saw."""

    inner: EvalScorer
    out: str

    def __call__(self, device):
        scorer, path = self.inner(device), f"{self.out}/extracted{dist.get_rank()}"
        extract = scorer.extract

        def counted(*args, **kw):
            f = extract(*args, **kw)
            with open(path, "a") as fh:
                fh.write(f"{len(f)}\n")
            return f
        scorer.extract = counted
        return scorer


class GlooEnv:
    """The loop's Env on a gloo rank: a fresh run; rank 0's final state saved for the test."""

    def __init__(self, rank: int, out: str):
        self.rank, self.world_size, self.device, self.out = rank, WORLD, CPU, out

    def load(self):
        return None

    def save(self, state, name, metrics):
        if state is not None:
            torch.save(state, f"{self.out}/state.pt")


def worker(rank: int, port: int, factory: EvalScorer, out: str, loop: bool):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    try:
        if loop:
            spec = tiny_spec(train=LOOP)
            job = TrainJob("tiny", 0, spec.model, spec.train, DigitsStream(RES, spec.train.micro_batch),
                           Counting(factory, out), eval_batch_size=10, threads=1)
            run_loop(job, GlooEnv(rank, out))
            return
        scorer, G = build_scorer(factory, CPU, WORLD), generator()
        res = {}
        for n, bs in CASES:
            res[n] = {"features": scorer.generator_features(sampler(G), n, bs), "scores": score(scorer, G, n, bs)}
        torch.save(res, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def single_threaded(fn):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


def test_batch_blocks_partition_the_batches_in_order():
    for n, bs, world in [(203, 20, 2), (7, 50, 2), (1000, 50, 3), (5, 1, 8), (100, 7, 4)]:
        nb = -(-n // bs)
        blocks = [batch_block(n, bs, r, world) for r in range(world)]
        assert [k for b in blocks for k in b] == list(range(nb))
        assert max(map(len, blocks)) - min(map(len, blocks)) <= 1


def test_a_rank_skips_the_batches_before_its_block():
    G = generator()
    one = torch.cat(list(generated(sampler(G), 203, 20)))
    two = [torch.cat(list(generated_block(sampler(G), 203, 20, r, WORLD))) for r in range(WORLD)]
    assert len(two[0]) == 100 and len(two[1]) == 103 and torch.equal(torch.cat(two), one)
    with pytest.raises(TypeError, match="skip"):
        list(generated_block(lambda b: torch.zeros(b, 3, 16, 16), 203, 20, 1, WORLD))


def test_two_gloo_ranks_gather_the_single_process_features_and_scores(factory, tmp_path, free_port):
    mp.spawn(worker, args=(free_port, factory, str(tmp_path), False), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    scorer, G = factory(CPU), generator()
    for n, bs in CASES:
        alone = single_threaded(lambda: scorer.extract(generated(sampler(G), n, bs)))
        scores = single_threaded(lambda: score(scorer, G, n, bs))
        for r in ranks:
            f = r[n]["features"]
            assert len(f) == n
            assert np.array_equal(f.feats, alone.feats) and np.array_equal(f.logits, alone.logits)
            assert r[n]["scores"].keys() == scores.keys()
            assert r[n]["scores"] == pytest.approx(scores, rel=1e-9, abs=1e-9)


def test_two_ranks_evaluate_together_in_the_training_loop(factory, tmp_path, free_port):
    mp.spawn(worker, args=(free_port, factory, str(tmp_path), True), nprocs=WORLD, join=True)
    state = torch.load(tmp_path / "state.pt", weights_only=False)
    evals = state["history"]["evals"]
    assert state["finished"] and [e["iteration"] for e in evals] == [2, 4]
    # 45 samples in 5 batches of 10 per evaluation: batches 0-1 on rank 0, 2-4 on rank 1
    assert [(tmp_path / f"extracted{r}").read_text().split() for r in range(WORLD)] == [["20", "20"], ["25", "25"]]
    spec = tiny_spec(train=LOOP)
    G = build_generator(spec.model)
    G.load_state_dict(state["G_ema"])
    m = spec.model
    alone = single_threaded(lambda: evaluate(factory(CPU), G, m.dim_z, m.n_classes, LOOP["eval_samples"], 10,
                                             0, CPU, standing_passes=STANDING, standing_batch=spec.train.micro_batch))
    last = {k: v for k, v in evals[-1].items() if k != "iteration" and not k.startswith("d_acc_")}   # D's, rank 0's alone
    assert last == pytest.approx(alone, rel=1e-9, abs=1e-9)
    assert 0 <= evals[-1]["d_acc_train"] <= 1
