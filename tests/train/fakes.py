"""Test stand-ins with the production interfaces (picklable: Ray workers unpickle them).

DigitsStream  a DataFactory like `biggan.data.loader.make_train_stream`: endless
              (x float (B, 3, H, W) in [-1, 1], y int64 (B,)) micro-batches of the real
              scikit-learn digits, sampled with a (seed, rank) generator; `images` the first
              digits of the train or val split (D's accuracy, as ShardStream.images).
RandomFeatures / TinyScorer  a real `biggan.metrics.Scorer` (IS, FID, precision/recall
              maths unchanged) over a fixed random projection instead of a trained network,
              with reference statistics from the digits training images.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F


@lru_cache(maxsize=4)
def digits_tensor(resolution: int, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    from biggan.data.digits import digits_images

    imgs, labels = digits_images(split, resolution)
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return x.contiguous(), torch.from_numpy(labels).long()


@dataclass(frozen=True)
class DigitsStream:
    resolution: int
    micro_batch: int

    def __call__(self, rank: int, world_size: int, seed: int):
        x, y = digits_tensor(self.resolution)
        g = torch.Generator().manual_seed((seed * 7919 + rank) % 2 ** 63)
        while True:
            idx = torch.randint(0, x.shape[0], (self.micro_batch,), generator=g)
            yield x[idx], y[idx]

    def images(self, split: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = digits_tensor(self.resolution, split)
        return x[:n], y[:n]


class RandomFeatures:
    """FeatureNet protocol: uint8 (N, 3, H, W) -> (features (N, 24), logits (N, 10)), fixed weights."""

    name, dim, num_classes = "random-features-v1", 24, 10

    def __init__(self):
        g = torch.Generator().manual_seed(1234)
        self.proj = torch.randn(3 * 8 * 8, self.dim, generator=g) / 14.0
        self.head = torch.randn(self.dim, self.num_classes, generator=g)

    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.adaptive_avg_pool2d(torch.as_tensor(images).float() / 127.5 - 1.0, 8).flatten(1)
        f = torch.tanh(x @ self.proj)
        return f, f @ self.head


@dataclass(frozen=True)
class TinyScorer:
    resolution: int
    pr_samples: int = 200

    def __call__(self, device=None):               # features on the CPU whatever the device
        from biggan.metrics import ReferenceStats, Scorer

        net = RandomFeatures()
        x, _ = digits_tensor(self.resolution)
        real = torch.round((x + 1) * 127.5).clamp(0, 255).to(torch.uint8)
        feats = net.features(real)[0].numpy()
        ref = ReferenceStats.from_features(feats, net.name, self.pr_samples)
        return Scorer(net, ref, is_splits=2, pr_k=3, pr_samples=self.pr_samples, batch_size=100)


@dataclass(frozen=True)
class CrashOnce:
    """A DataFactory that raises after `after` micro-batches, once (a flag file remembers it)."""

    inner: DigitsStream
    flag: str
    after: int

    def __call__(self, rank: int, world_size: int, seed: int):
        stream = self.inner(rank, world_size, seed)
        if Path(self.flag).exists():
            return stream
        return self._crashing(stream)

    def _crashing(self, stream):
        for i, batch in enumerate(stream):
            if i == self.after:
                Path(self.flag).touch()
                raise RuntimeError("simulated crash")
            yield batch
