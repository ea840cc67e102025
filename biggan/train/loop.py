"""The training loop of one run on one rank: build, resume, iterate, monitor, checkpoint.

No Ray and no MLflow imports here: `run_loop(job, env)` runs in-process with `LocalEnv`
(world size 1) or inside a Ray Train worker with `RayEnv`. Per iteration t = 1..iterations
(t = completed G steps):

    every iteration   GANStep (num_d_steps D steps + 1 G step + EMA); rank 0 feeds its
                      losses to the collapse monitor
    sv_every          rank 0: top-3 singular values of every G and D layer (t = 0 too)
    eval_every        IS/FID of G_ema through the scorer (if any) on the workers' devices; with
                      several ranks each generates and extracts its share of the samples
                      (biggan.metrics.distributed), rank 0 scores and records, with D's
                      accuracy on fixed training and held-out images (train.d_accuracy_images)
    sample_every      rank 0: a sample sheet of G_ema (to MLflow)
    sync points       (any of the above, log_every, checkpoints, the last iteration): one
                      all-reduce of the windowed losses and rank 0's stop flag
    checkpoint_every  every rank calls env.save; rank 0 writes the state (also when stopping
                      early and at the end, marked `finished`)

Seeding: weights from `seed` (identical on every rank before DDP), latents and torch's RNG
from (seed, rank), the data stream from (seed, iteration resumed at).
"""
from __future__ import annotations

import time
import warnings

import torch

from biggan.ema import EMA
from biggan.metrics.distributed import sync_buffers
from biggan.models import build_discriminator, build_generator
from biggan.parallel.cross_replica import enable_cross_replica_bn
from biggan.train.checkpoint import checkpoint_name, rng_state, set_rng_state
from biggan.train.collapse import CollapseMonitor
from biggan.train.loop_env import Env, all_gather, all_sum
from biggan.train.errors import bad_model
from biggan.train.factories import build_scorer
from biggan.train.job import TrainJob, derived_seed
from biggan.train.monitoring import DAccuracy, Spectra, evaluate, g_sigma0, sample_sheet
from biggan.train.history import History, Selection
from biggan.train.step import GANStep, make_optimizers, prepare_modules


NONFINITE_WEIGHTS = ("nonfinite_loss", "nonfinite_sigma")   # nothing left worth measuring


class Window:
    """Sums of the step statistics since the last sync point."""

    def __init__(self):
        self.keys: list[str] = []
        self.sums: list[float] = []
        self.n = 0

    def add(self, stats: dict[str, float]) -> None:
        if not self.keys:
            self.keys = sorted(stats)
            self.sums = [0.0] * len(self.keys)
        for i, k in enumerate(self.keys):
            self.sums[i] += stats[k]
        self.n += 1

    def reduce(self, stop: bool) -> tuple[dict[str, float], bool]:
        """Means over the window and over ranks; True if any rank asked to stop."""
        total = all_sum(self.sums + [float(self.n), float(stop)])
        n = max(total[-2], 1.0)
        means = {k: v / n for k, v in zip(self.keys, total[:-2])}
        self.sums, self.n = [0.0] * len(self.keys), 0
        return means, total[-1] > 0


class Run:
    """The state of one rank's run; `state_dict` is the checkpoint (see biggan.train.checkpoint)."""

    def __init__(self, job: TrainJob, env: Env):
        cfg, mcfg, dev = job.train, job.model, env.device
        self.job, self.env, self.cfg = job, env, cfg
        self.lead = env.rank == 0
        torch.manual_seed(job.seed)
        try:
            self.G, self.D = build_generator(mcfg, dev), build_discriminator(mcfg, dev)
        except (ValueError, TypeError, KeyError, IndexError, AssertionError, NotImplementedError) as e:
            raise bad_model(e, job.variant, mcfg.model_dump(mode="json")) from None
        prepare_modules(self.G, self.D, cfg.runtime, dev)
        # EMA copy first: G_ema keeps local BN (each rank samples its share of an evaluation alone)
        self.ema = EMA(self.G, cfg.ema.decay, cfg.ema.start, cfg.ema.buffers) if cfg.ema.enabled else None
        if env.world_size > 1 and cfg.cross_replica_bn:
            enable_cross_replica_bn(self.G)
        self.opt_g, self.opt_d = make_optimizers(self.G, self.D, cfg)
        self.latents = torch.Generator().manual_seed(derived_seed(job.seed, env.rank, "latents"))
        torch.manual_seed(derived_seed(job.seed, env.rank, "torch"))
        self.monitor = CollapseMonitor(cfg.collapse)
        self.history, self.selection = History(), Selection()
        self.iteration, self.finished, self.resumes = 0, False, []
        self.counters = {"step_time_s": 0.0, "images": 0, "wall_s": 0.0}

    @property
    def sampler(self) -> torch.nn.Module:
        return self.ema.model if self.ema else self.G

    def state_dict(self, rngs: list[dict]) -> dict:
        s = {"iteration": self.iteration, "finished": self.finished, "resumes": self.resumes,
             "G": self.G.state_dict(), "D": self.D.state_dict(),
             "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "rng": rngs,
             "monitor": self.monitor.state_dict(), "selection": self.selection.state_dict(),
             "history": self.history.state_dict(), "counters": dict(self.counters),
             "meta": {"variant": self.job.variant, "seed": self.job.seed, "world_size": self.env.world_size}}
        if self.ema:
            s["G_ema"] = self.ema.state_dict()
        return s

    def load_state_dict(self, s: dict) -> None:
        self.G.load_state_dict(s["G"])
        self.D.load_state_dict(s["D"])
        if self.ema:
            self.ema.load_state_dict(s["G_ema"])
        self.opt_g.load_state_dict(s["opt_g"])
        self.opt_d.load_state_dict(s["opt_d"])
        rank, rngs = self.env.rank, s["rng"]
        if len(rngs) == self.env.world_size:
            set_rng_state(rngs[rank], self.latents)
        else:                     # another world size: fresh, still reproducible, streams
            self.latents.manual_seed(derived_seed(self.job.seed, rank, "latents", s["iteration"]))
            torch.manual_seed(derived_seed(self.job.seed, rank, "torch", s["iteration"]))
        self.monitor.load_state_dict(s["monitor"])
        self.selection.load_state_dict(s["selection"])
        self.history.load_state_dict(s["history"])
        self.counters = dict(s["counters"])
        self.iteration, self.finished = s["iteration"], s["finished"]
        self.resumes = list(s["resumes"]) + [s["iteration"]]

    def save(self) -> None:
        """Collective: every rank calls it at the same iteration."""
        rngs = all_gather(rng_state(self.latents))
        state = self.state_dict(rngs) if self.lead else None
        self.env.save(state, checkpoint_name(self.iteration, len(self.resumes)),
                      {"iteration": self.iteration, "finished": self.finished})


def _stop_wanted(run: Run) -> bool:
    c, rule = run.monitor.collapse, run.cfg.collapse
    if c is None:
        return False
    return c.rule in NONFINITE_WEIGHTS or (rule.stop and run.iteration >= c.detected_at + rule.stop_after)


def run_loop(job: TrainJob, env: Env) -> dict:
    """Train (or resume) to `train.iterations` or to an early stop; returns rank 0's summary."""
    if job.threads:
        torch.set_num_threads(job.threads)
    cfg, mcfg, lead = job.train, job.model, env.rank == 0
    run = Run(job, env)
    state = env.load()
    if state is not None:
        run.load_state_dict(state)
        del state
    start = run.iteration
    g_train = d_train = None
    if env.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        # D's (1, C) output linear gets a transposed-stride gradient from SN; only a perf hint
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        ids = [env.device.index] if env.device.type == "cuda" else None
        # buffers stay equal without per-forward syncing: SN vectors follow equal weights, and
        # G's BN statistics are global with cross-replica BN
        g_train = DDP(run.G, device_ids=ids, forward_sync_buffers=False)
        d_train = DDP(run.D, device_ids=ids, forward_sync_buffers=False)
    step = GANStep(run.G, run.D, run.opt_g, run.opt_d, mcfg, cfg, ema=run.ema, g_train=g_train,
                   d_train=d_train, device=env.device, generator=run.latents)
    stream = job.data(env.rank, env.world_size, derived_seed(job.seed, "data", start) % 2 ** 31)
    logger = scorer = spectra = accuracy = None
    evaluating = cfg.evaluate and job.scorer is not None     # the same on every rank
    if lead and job.tracking is not None:
        from biggan.tracking.logger import RunLogger
        logger = RunLogger(job.tracking.uri, job.tracking.run_id)
    if evaluating:
        scorer = build_scorer(job.scorer, env.device, env.world_size)
    if lead:
        spectra = Spectra()
        if evaluating:                      # read once, before training; rank 0 records
            accuracy = DAccuracy.of(job.data, cfg.d_accuracy_images, job.eval_batch_size, env.device)
    t0 = time.perf_counter()
    try:
        if lead and start == 0:
            _spectra_check(run, spectra, logger, 0)
            run.selection.observe_checkpoint(0, run.sampler.state_dict())
        window = Window()
        while not run.finished and run.iteration < cfg.iterations:
            stats = step(stream, run.iteration)
            t = run.iteration = run.iteration + 1
            run.counters["step_time_s"] += stats["step_time"]
            run.counters["images"] += cfg.batch_size * cfg.num_d_steps
            window.add(stats)
            if lead:
                run.monitor.observe_losses(t, stats["d_loss"], stats["g_loss"])
            last = t == cfg.iterations
            sv_pt = t % cfg.sv_every == 0 or last
            ev_pt = evaluating and (t % cfg.eval_every == 0 or last)
            ck_pt = t % cfg.checkpoint_every == 0 or last
            if lead or ev_pt:                   # every rank joins an evaluation
                _periodic(run, spectra, scorer, logger, t, sv_pt, ev_pt,
                          sheet=logger is not None and (t % cfg.sample_every == 0 or last), accuracy=accuracy)
            if sv_pt or ev_pt or ck_pt or t % cfg.log_every == 0:
                means, stop = window.reduce(lead and _stop_wanted(run))
                if lead:
                    _log_losses(run, logger, t, means)
                if stop or last:
                    run.finished = True
                    ck_pt = True
            if ck_pt:
                if lead and not run.monitor.collapsed:
                    run.selection.observe_checkpoint(t, run.sampler.state_dict())
                run.counters["wall_s"] += time.perf_counter() - t0
                t0 = time.perf_counter()
                if logger is not None:
                    logger.flush()              # metrics up to t are in MLflow before checkpoint t exists
                run.save()
    finally:
        if logger is not None:
            logger.close()
    run.counters["wall_s"] += time.perf_counter() - t0
    return {"iteration": run.iteration, "finished": run.finished, "resumes": run.resumes,
            "started_at": start, "counters": run.counters,
            "tracking_errors": logger.errors if logger is not None else []}


def _log_losses(run: Run, logger, t: int, means: dict[str, float]) -> None:
    cfg = run.cfg
    st = means.get("step_time", float("nan"))
    row = {"iteration": t, **{k: v for k, v in means.items() if k != "step_time"}, "step_time": st,
           "images_per_s": cfg.batch_size * cfg.num_d_steps / st if st > 0 else float("nan")}
    run.history.losses.append(row)
    if logger is not None:
        logger.metrics(t, {k: v for k, v in row.items() if k != "iteration"})


def _periodic(run: Run, spectra: Spectra, scorer, logger, t: int, sv_pt: bool, ev_pt: bool, sheet: bool,
              accuracy: DAccuracy | None = None) -> None:
    """Rank 0's measurements at iteration t, and every rank's share of an evaluation (all
    skipped once rank 0 sees non-finite weights)."""
    c = run.monitor.collapse
    skip = c is not None and c.rule in NONFINITE_WEIGHTS
    if ev_pt and run.env.world_size > 1:
        skip = all_sum([float(skip)])[0] > 0         # rank 0's monitor decides for every rank
    if skip:
        return
    if sv_pt and run.lead:
        _spectra_check(run, spectra, logger, t)
    if ev_pt:
        m = run.job.model
        if run.env.world_size > 1 and run.ema:
            sync_buffers(run.sampler)                # G_ema's BN/SN buffers: rank 0's on every rank
        scores = evaluate(scorer, run.sampler, m.dim_z, m.n_classes, run.cfg.eval_samples,
                          run.job.eval_batch_size, run.job.seed, run.env.device,
                          standing_passes=run.cfg.eval_standing_passes if run.ema else 0,
                          standing_batch=run.cfg.micro_batch)
        if not run.lead:
            return
        if accuracy is not None:
            scores.update(accuracy(run.D))
        run.history.evals.append({"iteration": t, **scores})
        if logger is not None:
            logger.metrics(t, scores)
        healthy = not run.monitor.collapsed
        run.monitor.observe_fid(t, scores.get("fid", float("nan")))
        if healthy and not run.monitor.collapsed:
            run.selection.observe_eval(t, scores, run.sampler.state_dict())
    if sheet:
        m = run.job.model
        logger.image(t, "samples", sample_sheet(run.sampler, m.dim_z, m.n_classes, run.cfg.sheet_size,
                                                run.job.seed, run.env.device))


def _spectra_check(run: Run, spectra: Spectra, logger, t: int) -> None:
    try:
        metrics, row = spectra({"G": run.G, "D": run.D})
    except RuntimeError as e:               # e.g. an SVD of non-finite weights
        run.monitor.observe_sigmas(t, {f"(spectra failed: {e})": float("nan")})
        return
    run.history.sigma0.append({"iteration": t, **row})
    if logger is not None:
        logger.metrics(t, metrics)
    run.monitor.observe_sigmas(t, g_sigma0(row))
