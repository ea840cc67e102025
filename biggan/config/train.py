"""`train:` section: optimisation, regularisers, EMA, distribution, monitoring and collapse rules."""
from __future__ import annotations

from typing import Literal

from pydantic import (Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt,
                      SerializerFunctionWrapHandler, ValidationInfo, field_validator, model_serializer,
                      model_validator)

from biggan.config.base import Strict
from biggan.config.data import LoaderConfig


class OptimConfig(Strict):
    g_lr: float = Field(5e-5, gt=0)
    d_lr: float = Field(2e-4, gt=0)
    beta1: float = Field(0.0, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    eps: float = Field(1e-6, gt=0)


class OrthoConfig(Strict):
    enabled: bool = True
    beta: NonNegativeFloat = 1e-4        # the author's beta: grad += 2 beta ((W W^T) (.) (1 - I)) W


class SigmaClampConfig(Strict):
    """Clamp G's top singular value: W <- W - max(0, sigma0 - clamp) u0 v0^T."""

    mode: Literal["off", "fixed", "relative"] = "off"
    value: float = Field(1.0, gt=0)      # fixed: the clamp itself; relative: a multiple of sigma1


class EMAConfig(Strict):
    enabled: bool = True
    decay: float = Field(0.9999, ge=0, lt=1)
    start: NonNegativeInt = 20000        # iteration at which averaging starts (before: copy)
    buffers: Literal["copy", "average"] = "copy"   # BN running stats of G_ema


class CollapseConfig(Strict):
    """Rules that declare training collapsed, after the paper's section 4 (each off with 0 / false).

    Evaluated on rank 0 by `biggan.train.collapse.CollapseMonitor`; see its docstring for the
    exact definitions (which iteration is recorded, what counts as consecutive) and the labels
    a run ends with (collapse, failed to train, dead D, non-finite, stable).
    """

    nonfinite: bool = True               # a NaN/inf loss, FID or sigma0 (reported as distinct rules)
    warmup: NonNegativeInt = 2000        # no other rule fires before this iteration
    # a collapse needs a generator that learned first: the jump, sigma and FID rules wait until
    # the best FID so far is at most this (0: no condition); a run that never gets there ends
    # "failed to train"
    learned_fid: NonNegativeFloat = 0.0
    # D's loss, near zero in healthy training, jumps UP at collapse (section 4.2, appendix F):
    d_loss_jump: NonNegativeFloat = 3.0  # windowed mean D loss >= jump x its minimum over the lookback ...
    d_loss_margin: NonNegativeFloat = 0.5   # ... and above that minimum by at least this much ...
    d_loss_level: NonNegativeFloat = 0.0    # ... and at least this high (hinge: 2 = chance; 0 = no level)
    loss_window: PositiveInt = 20        # iterations per windowed mean
    loss_lookback: PositiveInt = 500     # iterations over which the minimum is taken
    # a dead D: its hinge loss within dead_d_tolerance of 2 (D's output ~0 everywhere) on this
    # many consecutive iterations (0: off)
    dead_d_iterations: NonNegativeInt = 0
    dead_d_tolerance: PositiveFloat = 0.02
    # G's top singular values grow, then explode (section 4.1, figure 3); watched on the max over
    # G's conv and linear weights (not BatchNorm's class tables), the claims' statistic:
    sigma_factor: NonNegativeFloat = 3.0  # that max >= factor x its median over the ...
    sigma_history: PositiveInt = 4       # ... last this many spectrum checks
    fid_factor: NonNegativeFloat = 2.0   # FID above factor x its best ...
    fid_patience: NonNegativeInt = 2     # ... for this many consecutive evaluations
    # an FID collapse is "sudden" when FID first passes fid_factor x its best within this many
    # evaluations of that best, else a "gradual" climb (the sigma and D-loss rules fire on jumps)
    sudden_evals: PositiveInt = 1
    stop: bool = True                    # stop training early once collapsed ...
    stop_after: NonNegativeInt = 0       # ... this many iterations after the detection (what follows it)


class RuntimeConfig(Strict):
    """How a step runs, not what it computes (up to float rounding); see biggan.train.step.

    The defaults leave the CPU step as it was, bit for bit."""

    channels_last: bool = False          # NHWC activations and conv weights (faster convs on GPUs)
    compile: bool = False                # torch.compile the G and D forwards
    # inductor: generated kernels; aot_eager: the same captured graphs run op by op (a check
    # of the capture without code generation, which takes minutes on a small CPU)
    compile_backend: Literal["inductor", "aot_eager"] = "inductor"
    cudnn_benchmark: bool = True         # CUDA only: cuDNN picks the fastest conv algorithms
    ddp_backend: Literal["auto", "nccl", "gloo"] = "auto"   # auto: nccl with GPUs, else gloo (Ray's choice)
    ddp_timeout_s: PositiveInt = 1800    # collective timeout (Ray TorchConfig.timeout_s; its default)
    # where a run's workers go (Ray ScalingConfig.placement_strategy): PACK fills a node first;
    # STRICT_SPREAD one worker per node (a run waits until that many nodes are free)
    placement: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"


class TrainConfig(Strict):
    # field order matters: batch_size's validator reads num_workers and accumulate
    iterations: PositiveInt = 1000       # G steps
    num_workers: PositiveInt = 2         # Ray Train workers (data-parallel replicas)
    accumulate: PositiveInt = 1          # gradient accumulations per step
    batch_size: PositiveInt = 2048       # effective batch per D or G step (all workers, all accumulations)
    num_d_steps: PositiveInt = 2         # D steps per G step
    optim: OptimConfig = OptimConfig()
    ortho: OrthoConfig = OrthoConfig()
    r1_gamma: NonNegativeFloat = 0.0     # R1 = gamma/2 E ||grad_x D(x)||^2 on real data
    sigma_clamp: SigmaClampConfig = SigmaClampConfig()
    ema: EMAConfig = EMAConfig()
    # autocast of the forward passes: bf16; fp16 with loss scaling (GradScaler); mixed: bf16 where
    # the device has it, else fp16 with loss scaling
    precision: Literal["fp32", "bf16", "fp16", "mixed"] = "fp32"
    runtime: RuntimeConfig = RuntimeConfig()
    loader: LoaderConfig = LoaderConfig()
    use_gpu: bool = False
    launcher: Literal["ray", "local"] = "ray"     # local: in-process, one worker, no Ray start-up cost
    cpus_per_worker: PositiveFloat | None = None  # Ray resources (default: local cores / num_workers, >= 1)
    threads_per_worker: PositiveInt | None = None  # torch intra-op threads (default: worker_threads)
    cross_replica_bn: bool = True        # G's BatchNorm statistics over all workers
    max_failures: NonNegativeInt = 2     # worker failures survived (Ray FailureConfig)
    log_every: PositiveInt = 10
    sv_every: PositiveInt = 100          # top-3 singular values of every layer
    eval_every: PositiveInt = 500        # IS/FID of G_ema
    eval_samples: PositiveInt = 1000
    # G_ema is scored with standing BN statistics of its own, from this many passes of a
    # training micro-batch (0: the running statistics EMA.buffers leaves it)
    eval_standing_passes: NonNegativeInt = 16
    checkpoint_every: PositiveInt = 500
    checkpoint_keep: PositiveInt = 2     # newest checkpoints kept in storage (Ray num_to_keep)
    evaluate: bool = True                # IS/FID every eval_every (needs feature net + reference stats)
    sample_every: PositiveInt = 500      # sample sheets
    sheet_size: PositiveInt = 64         # images per sample sheet (a square-ish grid)
    # at each evaluation: D's accuracy (D(x, y) > 0: "real") on up to this many of its training
    # images and as many held-out ones (the val split): the paper's sign of D overfitting (0: off)
    d_accuracy_images: NonNegativeInt = 256
    collapse: CollapseConfig = CollapseConfig()

    @field_validator("batch_size")
    @classmethod
    def _divisible(cls, v: int, info: ValidationInfo) -> int:
        per = info.data.get("num_workers", 1) * info.data.get("accumulate", 1)
        if v % per:
            raise ValueError(f"batch_size {v} is not divisible by num_workers x accumulate = {per}")
        return v

    @model_validator(mode="after")
    def _local_is_single_worker(self) -> "TrainConfig":
        if self.launcher == "local" and self.num_workers != 1:
            raise ValueError(f"launcher 'local' runs one in-process worker; got num_workers "
                             f"{self.num_workers} (use launcher 'ray' for data parallelism)")
        return self

    @model_validator(mode="after")
    def _nccl_needs_gpus(self) -> "TrainConfig":
        if self.runtime.ddp_backend == "nccl" and not self.use_gpu:
            raise ValueError("runtime.ddp_backend 'nccl' needs use_gpu: true (use 'gloo' or 'auto' on CPUs)")
        return self

    # `runtime` and `loader` are left out of dumps while at their defaults, so that the run names
    # (biggan.train.run.config_hash) of configurations written before they existed stay the same
    @model_serializer(mode="wrap")
    def _omit_default_sections(self, handler: SerializerFunctionWrapHandler) -> dict:
        out = handler(self)
        for key in ("runtime", "loader"):
            if key in out and getattr(self, key) == type(getattr(self, key))():
                del out[key]
        return out

    @property
    def micro_batch(self) -> int:
        """Samples per worker per forward pass."""
        return self.batch_size // (self.num_workers * self.accumulate)

    def worker_threads(self, cpus: float) -> int:
        """torch intra-op threads of a worker given `cpus` CPUs: threads_per_worker, else its
        whole CPUs (at least 1)."""
        return self.threads_per_worker or max(1, int(cpus))
