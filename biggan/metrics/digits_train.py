"""Train the digits feature CNN on the digits training split; score it on the val split.

The split is the digits datasets' own (`source.val_fraction`, `source.split_seed`, see
`digits_split`), the one their shards use, so the network never trains on images that the
shards hold out for validation.

Each training image is seen, per epoch, in one of several renderings (every Pillow upsampling
filter at the net's resolution, plus bicubic at 2x and 4x passed through the net's own resize),
so the features do not depend on how a digits dataset was prepared; plus a random shift of
up to `max_shift` pixels. Held-out accuracy is measured on every rendering of the val split.
"""
from __future__ import annotations

import time
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from biggan.config.data import DatasetConfig, DigitsSource
from biggan.config.evaluation import DigitsNetConfig
from biggan.data.digits import FILTERS, digits_images
from biggan.metrics.digits_net import DigitsCNN

CANONICAL = "bicubic@1x"   # the digits shards' default (upsample_filter: bicubic, resolution = net's)


def renderings(resolution: int) -> dict[str, tuple[int, str]]:
    out = {f"{f}@1x": (resolution, f) for f in FILTERS}
    out.update({f"bicubic@{m}x": (m * resolution, "bicubic") for m in (2, 4)})
    return out


def digits_split(datasets: Mapping[str, DatasetConfig]) -> tuple[float, int]:
    """(val_fraction, split_seed) shared by every digits dataset of `datasets:` (the source
    defaults when there is none); a ValueError naming them when they split differently."""
    splits = {name: (d.source.val_fraction, d.source.split_seed)
              for name, d in datasets.items() if isinstance(d.source, DigitsSource)}
    if len(set(splits.values())) > 1:
        shown = ", ".join(f"datasets.{n}.source: val_fraction {v}, split_seed {s}"
                          for n, (v, s) in sorted(splits.items()))
        raise ValueError(f"the digits datasets split differently ({shown}); the digits feature network "
                         f"trains on one split, so give them the same val_fraction and split_seed")
    if splits:
        return next(iter(splits.values()))
    default = DigitsSource(kind="digits")
    return default.val_fraction, default.split_seed


def prepared_split(net: DigitsCNN, split: str, val_fraction: float, split_seed: int
                   ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """-> ({rendering: prepared float (N, 3, r, r)}, labels (N,))."""
    views, labels = {}, None
    for name, (res, filt) in renderings(net.resolution).items():
        imgs, y = digits_images(split, res, filter=filt, val_fraction=val_fraction, seed=split_seed)
        views[name] = net.prepare(torch.from_numpy(imgs).permute(0, 3, 1, 2))
        labels = torch.from_numpy(y)
    return views, labels


def random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by up to max_shift pixels, filling with black (-1 after prepare)."""
    if max_shift == 0:
        return x
    s = max_shift
    padded = F.pad(x, (s, s, s, s), value=-1.0)
    dy, dx = torch.randint(0, 2 * s + 1, (2, x.shape[0]), generator=gen).tolist()
    h, w = x.shape[-2:]
    return torch.stack([padded[i, :, a:a + h, b:b + w] for i, (a, b) in enumerate(zip(dy, dx))])


@torch.no_grad()
def accuracy(net: DigitsCNN, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    net.eval()
    hits = sum((net(x[i:i + batch_size])[1].argmax(1) == y[i:i + batch_size]).sum().item()
               for i in range(0, len(y), batch_size))
    return hits / len(y)


def train_digits_net(cfg: DigitsNetConfig, val_fraction: float | None = None,
                     split_seed: int | None = None) -> tuple[DigitsCNN, dict]:
    """Seeded training on the split (val_fraction, split_seed) of the digits datasets (default:
    a digits source's defaults); -> (eval-mode net, metrics with val accuracy per rendering)."""
    default = digits_split({})
    val_fraction = default[0] if val_fraction is None else val_fraction
    split_seed = default[1] if split_seed is None else split_seed
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net = DigitsCNN(cfg.resolution, cfg.width, cfg.feature_dim)
    train_views, y_train = prepared_split(net, "train", val_fraction, split_seed)
    pool = torch.stack(list(train_views.values()))            # (V, N, 3, r, r)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs)
    n = len(y_train)
    for _ in range(cfg.epochs):
        net.train()
        order = torch.randperm(n, generator=gen)
        view = torch.randint(0, pool.shape[0], (n,), generator=gen)
        for i in range(0, n, cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            x = random_shift(pool[view[idx], idx], cfg.max_shift, gen)
            loss = F.cross_entropy(net(x)[1], y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    net.eval().requires_grad_(False)
    val_views, y_val = prepared_split(net, "val", val_fraction, split_seed)
    per_view = {name: accuracy(net, x, y_val) for name, x in val_views.items()}
    metrics = {
        "val_accuracy": per_view[CANONICAL],
        "val_accuracy_min": min(per_view.values()),
        "val_accuracy_by_rendering": per_view,
        "train_accuracy": accuracy(net, train_views[CANONICAL], y_train),
        "n_train": n,
        "n_val": len(y_val),
        "val_fraction": val_fraction,
        "split_seed": split_seed,
        "train_seconds": round(time.perf_counter() - t0, 2),
    }
    return net, metrics
