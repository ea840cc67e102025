"""Image tensors as the metrics see them: uint8 (N, 3, H, W), exactly as the shards store them."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> uint8: clamp(round((x + 1) * 127.5), 0, 255)."""
    return torch.round((x.detach().float() + 1.0) * 127.5).clamp_(0, 255).to(torch.uint8)


def as_uint8_batch(item: object) -> torch.Tensor:
    """A batch from any source -> uint8 (B, 3, H, W). Accepts a tensor/array or an (images, labels) pair."""
    if isinstance(item, (tuple, list)):
        item = item[0]
    x = torch.from_numpy(np.ascontiguousarray(item)) if isinstance(item, np.ndarray) else item
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected an image batch (tensor or array), got {type(item).__name__}")
    if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected uint8 images (B, 3, H, W), got {x.dtype} {tuple(x.shape)}")
    return x


def nhwc_batches(images: np.ndarray, batch_size: int) -> Iterator[torch.Tensor]:
    """uint8 (N, H, W, 3) array -> uint8 (B, 3, H, W) tensors."""
    for i in range(0, len(images), batch_size):
        yield torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size])).permute(0, 3, 1, 2)


def rebatch(batches: Iterable[object], batch_size: int) -> Iterator[torch.Tensor]:
    """Split incoming uint8 batches so that none exceeds `batch_size` (memory bound of the net)."""
    for item in batches:
        x = as_uint8_batch(item)
        for i in range(0, x.shape[0], batch_size):
            yield x[i:i + batch_size]
