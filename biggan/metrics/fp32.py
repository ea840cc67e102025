"""Full-precision float32 for feature extraction: TF32 off for cuBLAS matmuls and cuDNN convs.

On Ampere or newer GPUs TF32 (10-bit mantissa) is allowed for convolutions by default and
for matmuls when a caller enables it; through the Inception network that is ~1e-3 relative
error in pool3, about the tolerance that makes FID comparable with the TF reference. The
context sets torch's precision API (`fp32_precision`, the one that replaces `allow_tf32`) to
"ieee" and restores the caller's settings on exit. The settings are global, so the CPU
behaves the same (the flags are simply unused there).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

# the backends whose float32 work may otherwise run in TF32
_BACKENDS = (torch.backends.cuda.matmul, torch.backends.cudnn.conv)


@contextlib.contextmanager
def ieee_fp32() -> Iterator[None]:
    saved = [b.fp32_precision for b in _BACKENDS]
    try:
        for b in _BACKENDS:
            b.fp32_precision = "ieee"
        yield
    finally:
        for b, value in zip(_BACKENDS, saved):
            b.fp32_precision = value
