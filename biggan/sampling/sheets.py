"""Sample sheets of a trained generator, as PNG grids.

- class sheet: one row per class, `per_class` samples each (fixed z per column);
- truncation strip (the paper's figure 2a): one z per row, the same z truncated at
  decreasing thresholds from left to right;
- z interpolation: fixed class, linear path between two latents;
- class interpolation: fixed z, linear path between two class embeddings (shared embedding,
  or the one-hot vectors without it).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image

from biggan.sampling.truncation import truncated_normal


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [-1, 1] -> (B, H, W, 3) uint8, rounded as images are stored."""
    return ((x.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def grid(images: np.ndarray, rows: int, pad: int = 1, scale: int = 1) -> Image.Image:
    """(rows * cols, H, W, 3) uint8 -> one image, row-major, `pad` px white gutters."""
    n, h, w, _ = images.shape
    cols = n // rows
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        out[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = images[i]
    im = Image.fromarray(out)
    return im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST) if scale > 1 else im


@torch.no_grad()
def _generate(G, z: torch.Tensor, y: torch.Tensor | None = None, emb: torch.Tensor | None = None,
              batch: int = 256) -> np.ndarray:
    outs = []
    for i in range(0, z.shape[0], batch):
        sl = slice(i, i + batch)
        x = G(z[sl], y[sl]) if emb is None else G(z[sl], class_emb=emb[sl])
        outs.append(to_uint8(x))
    return np.concatenate(outs)


def class_sheet(G, n_classes: int, per_class: int, threshold: float | None, seed: int,
                classes: Sequence[int] | None = None) -> np.ndarray:
    classes = list(classes) if classes is not None else list(range(n_classes))
    g = torch.Generator().manual_seed(seed)
    z = truncated_normal((per_class, G.dim_z), threshold, g).repeat(len(classes), 1)
    y = torch.tensor(classes).repeat_interleave(per_class)
    return _generate(G, z, y)


def truncation_strip(G, n_rows: int, thresholds: Sequence[float], seed: int, cls: int = 0) -> np.ndarray:
    """The same underlying normal draw, truncated by resampling at each threshold (fig. 2a)."""
    images = []
    for r in range(n_rows):
        for t in thresholds:
            g = torch.Generator().manual_seed(seed * 1000 + r)   # same base draw for every t
            z = truncated_normal((1, G.dim_z), t, g)
            images.append(_generate(G, z, torch.tensor([cls])))
    return np.concatenate(images)


def z_interpolation(G, n_rows: int, steps: int, seed: int, threshold: float | None = None) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    a, b = truncated_normal((n_rows, G.dim_z), threshold, g), truncated_normal((n_rows, G.dim_z), threshold, g)
    w = torch.linspace(0, 1, steps).view(1, steps, 1)
    z = (a[:, None] * (1 - w) + b[:, None] * w).reshape(-1, G.dim_z)
    y = torch.randint(0, G.n_classes, (n_rows,), generator=g).repeat_interleave(steps)
    return _generate(G, z, y)


def class_interpolation(G, n_rows: int, steps: int, seed: int, threshold: float | None = None) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    z = truncated_normal((n_rows, G.dim_z), threshold, g).repeat_interleave(steps, 0)
    ya = torch.randint(0, G.n_classes, (n_rows,), generator=g)
    yb = (ya + 1 + torch.randint(0, G.n_classes - 1, (n_rows,), generator=g)) % G.n_classes
    ea, eb = G.class_embedding(ya), G.class_embedding(yb)
    w = torch.linspace(0, 1, steps).view(1, steps, 1)
    emb = (ea[:, None] * (1 - w) + eb[:, None] * w).reshape(n_rows * steps, -1)
    return _generate(G, z, emb=emb)

