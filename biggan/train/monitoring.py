"""Periodic measurements: spectra of G and D and sample sheets (rank 0), IS/FID of G_ema.

Spectra (paper section 4): the top-3 singular values of every raw weight (conv kernels as
(out, in*kh*kw)), warm-started between checks so a check costs a few matrix products per
layer. IS/FID and sheets use fixed latents (seeded per run), so successive evaluations differ
only by the weights. Before an evaluation G_ema gets standing BatchNorm statistics of its own
(`biggan.ema.standing_stats`, the paper's sampling procedure): its running statistics would
otherwise be G's (copied at every EMA update), which belong to other weights.

D's accuracy (paper section 4.2, appendix: near 100% on its training images but about chance on
held-out ones when it overfits): the fraction of fixed real images x with D(x, y) > 0, on the first
images of the training split and of the val split. D runs in eval mode without gradients, so its
spectral-norm vectors stay as training left them and no RNG is drawn: training is unchanged.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from biggan.spectra import SpectraTracker
from biggan.train.job import Batch, Scorer, derived_seed


class Spectra:
    def __init__(self):
        self.trackers = {"G": SpectraTracker(3), "D": SpectraTracker(3)}

    def __call__(self, nets: dict[str, nn.Module]) -> tuple[dict[str, float], dict[str, float]]:
        """-> (MLflow metrics 'sigma/<net>/<layer>/s<k>', sigma0 row {'<net>/<layer>': s0})."""
        metrics, sigma0 = {}, {}
        for net, module in nets.items():
            for layer, values in self.trackers[net](module).items():
                for k, v in enumerate(values):
                    metrics[f"sigma/{net}/{layer}/s{k}"] = v
                sigma0[f"{net}/{layer}"] = values[0]
        return metrics, sigma0


def g_sigma0(row: dict[str, float]) -> dict[str, float]:
    return {k[2:]: v for k, v in row.items() if k.startswith("G/")}


class DAccuracy:
    """D's accuracy on fixed real images: {"d_acc_train": ..., "d_acc_val": ...} (a split the
    dataset lacks is left out)."""

    SPLITS = {"train": "d_acc_train", "val": "d_acc_val"}

    def __init__(self, images: dict[str, Batch], batch_size: int, device: torch.device):
        self.images = {self.SPLITS[k]: (x.to(device), y.to(device)) for k, (x, y) in images.items()}
        self.batch_size = max(1, batch_size)

    @classmethod
    def of(cls, data, n: int, batch_size: int, device: torch.device) -> "DAccuracy | None":
        """From a data factory with `images(split, n)` (biggan.train.factories.ShardStream); None
        when it has none."""
        read = getattr(data, "images", None)
        if read is None or n <= 0:
            return None
        images = {split: b for split in cls.SPLITS if (b := read(split, n)) is not None}
        return cls(images, batch_size, device) if images else None

    @torch.no_grad()
    def __call__(self, D: nn.Module) -> dict[str, float]:
        was = D.training
        D.eval()                                   # SN: no power-iteration update in eval mode
        try:
            return {key: self._accuracy(D, x, y) for key, (x, y) in self.images.items()}
        finally:
            D.train(was)

    def _accuracy(self, D: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        real = sum(int((D(x[i:i + self.batch_size], y[i:i + self.batch_size]).float() > 0).sum())
                   for i in range(0, len(x), self.batch_size))
        return real / len(x)


class LatentSampler:
    """sample_fn(b) -> (b, 3, H, W) in [-1, 1] from fixed-seed latents (z, y drawn per batch on the
    CPU); `skip(b)` draws a batch's latents without running G (batches another rank scores)."""

    def __init__(self, G: nn.Module, dim_z: int, n_classes: int, seed: int, device: torch.device):
        self.G, self.dim_z, self.n_classes, self.device = G, dim_z, n_classes, device
        self.g = torch.Generator().manual_seed(seed)

    def latents(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.randn(b, self.dim_z, generator=self.g),
                torch.randint(0, self.n_classes, (b,), generator=self.g))

    def skip(self, b: int) -> None:
        self.latents(b)

    @torch.no_grad()
    def __call__(self, b: int) -> torch.Tensor:
        z, y = self.latents(b)
        return self.G(z.to(self.device), y.to(self.device)).float()


def evaluate(scorer: Scorer, G: nn.Module, dim_z: int, n_classes: int, n: int, batch_size: int,
             seed: int, device: torch.device, standing_passes: int = 0,
             standing_batch: int = 64) -> dict[str, float]:
    """IS/FID (and the scorer's other numbers) of G in eval mode on n fixed-latent samples; with
    `standing_passes`, after replacing G's BN statistics by standing ones (fixed latents too)."""
    was = G.training
    G.eval()
    try:
        if standing_passes:
            from biggan.ema import standing_stats
            g = torch.Generator().manual_seed(derived_seed(seed, "standing"))

            def inputs() -> tuple[torch.Tensor, torch.Tensor]:
                return (torch.randn(standing_batch, dim_z, generator=g).to(device),
                        torch.randint(0, n_classes, (standing_batch,), generator=g).to(device))
            standing_stats(G, inputs, standing_passes)
        sample = LatentSampler(G, dim_z, n_classes, derived_seed(seed, "eval"), device)
        scores = scorer.score_generator(sample, n, batch_size)
    finally:
        G.train(was)
    return {k: float(v) for k, v in scores.items() if isinstance(v, (int, float)) and k != "n"}


@torch.no_grad()
def sample_sheet(G: nn.Module, dim_z: int, n_classes: int, size: int, seed: int,
                 device: torch.device) -> np.ndarray:
    """(H', W', 3) uint8 grid: one row per class (the first few), the same z down each column."""
    from biggan.sampling.sheets import grid, to_uint8

    rows = max(1, min(n_classes, math.isqrt(size)))
    per = max(1, size // rows)
    g = torch.Generator().manual_seed(derived_seed(seed, "sheet"))
    z = torch.randn(per, dim_z, generator=g).repeat(rows, 1).to(device)
    y = torch.arange(rows).repeat_interleave(per).to(device)
    was = G.training
    G.eval()
    try:
        images = to_uint8(G(z, y).cpu())
    finally:
        G.train(was)
    return np.asarray(grid(images, rows))
