"""The 3x3 convs beside a resampling, computed at the low resolution: same function, fewer FLOPs.

G: nearest x2 upsampling followed by a 3x3 conv (padding 1). Along one axis, with the 3x3 kernel's taps (w0, w1, w2) and u = up(x), u[p] = x[p // 2]:

    y[2i]     = w0 u[2i-1] + w1 u[2i]   + w2 u[2i+1] = w0 x[i-1]        + (w1 + w2) x[i]
    y[2i + 1] = w0 u[2i]   + w1 u[2i+1] + w2 u[2i+2] = (w0 + w1) x[i]   + w2 x[i+1]

(zero padding of u is zero padding of x). Each output phase is a 2-tap conv of x; in 2-d,
four 2x2 convs whose kernels are sums of the 3x3 taps. Together they are one transposed
conv with stride 2, padding 1 and the 4-tap kernel

    K = (w2, w1 + w2, w0 + w1, w0),    y[p] = sum_i x[i] K[p + 1 - 2i]

(phase 0 reads K[1], K[3]; phase 1 reads K[0], K[2]). Per output pixel that is 4 instead of
9 multiply-adds per (in, out) channel pair: 2.25x fewer FLOPs. K is rebuilt from the same
3x3 weight on every call (after spectral normalisation), so parameters, init and SN are
those of the 3x3 conv. One transposed conv is used rather than four 2x2 convs interleaved
with a reshape: on the CPU measured (benchmarks/results/train.md) the four small convs plus
the copies were no faster than upsample + conv3x3 at 16x16 inputs and 2-4.6x slower at 8x8
and 4x4; the transposed conv is one oneDNN kernel, ~2x faster than upsample + conv3x3 at
16x16 (fwd + bwd), slower at 4x4.

D: a 3x3 conv (padding 1) followed by a 2x2 average pool. Along one axis, y = pool(conv(x)),

    y[i] = (c[2i] + c[2i+1]) / 2,   c[p] = w0 x[p-1] + w1 x[p] + w2 x[p+1]
         = (w0 x[2i-1] + (w0 + w1) x[2i] + (w1 + w2) x[2i+1] + w2 x[2i+2]) / 2

one conv with stride 2, padding 1 and the 4-tap kernel K = (w0, w0 + w1, w1 + w2, w2) / 2
(the 3x3 kernel convolved with the 2x2 box). Per output pixel 16 instead of 4 x 9 multiply-adds
per channel pair: again 2.25x fewer FLOPs, and the full-resolution conv output is never stored.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

# 1-d tap sums: K = A @ (w0, w1, w2), rows as in the two K above
_UP = ((0.0, 0.0, 1.0), (0.0, 1.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 0.0))
_DOWN = ((0.5, 0.0, 0.0), (0.5, 0.5, 0.0), (0.0, 0.5, 0.5), (0.0, 0.0, 0.5))


@functools.lru_cache(maxsize=None)
def _tap_sums(rows: tuple, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(9, 16) matrix S with K2d.flatten() = w3x3.flatten() @ S, K2d[a, b] = sum A[a, i] A[b, j] w[i, j]."""
    a = torch.tensor(rows, dtype=dtype, device=device)
    return torch.kron(a, a).t().contiguous()


def _check_3x3(name: str, weight: torch.Tensor) -> None:
    if weight.shape[-2:] != (3, 3):
        raise ValueError(f"{name} needs a 3x3 kernel, got weight of shape {tuple(weight.shape)}")


def up2_conv3x3(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """conv2d(interpolate(x, scale_factor=2, mode="nearest"), weight, bias, padding=1).

    x: (B, C, H, W), weight: (O, C, 3, 3), bias: (O,) or None -> (B, O, 2H, 2W).
    """
    _check_3x3("up2_conv3x3", weight)
    out_ch, in_ch = weight.shape[:2]
    # tap sums in the weight's own precision, also under autocast (the conv itself may run in bf16)
    with torch.autocast(weight.device.type, enabled=False):
        w = weight.transpose(0, 1).reshape(in_ch * out_ch, 9)          # (C*O, 9)
        k = (w @ _tap_sums(_UP, w.device, w.dtype)).view(in_ch, out_ch, 4, 4)  # (C, O, 4, 4): transposed-conv layout
    y = F.conv_transpose2d(x, k, None, stride=2, padding=1)
    # bias added apart: with a bias, the CPU backward of conv_transpose2d took ~2x as long
    # (measured in BENCHMARKS.md); the broadcast add's backward is one reduction
    return y if bias is None else y + bias.to(y.dtype).view(1, -1, 1, 1)   # y is bf16 under autocast


def conv3x3_pool2(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """avg_pool2d(conv2d(x, weight, bias, padding=1), 2).

    x: (B, C, H, W) with H, W even, weight: (O, C, 3, 3), bias: (O,) or None -> (B, O, H/2, W/2).
    """
    _check_3x3("conv3x3_pool2", weight)
    if x.shape[-2] % 2 or x.shape[-1] % 2:
        raise ValueError(f"conv3x3_pool2 needs an even height and width, got input of shape {tuple(x.shape)}")
    out_ch, in_ch = weight.shape[:2]
    with torch.autocast(weight.device.type, enabled=False):
        w = weight.reshape(out_ch * in_ch, 9)                               # (O*C, 9)
        k = (w @ _tap_sums(_DOWN, w.device, w.dtype)).view(out_ch, in_ch, 4, 4)
    if k.device.type == "cpu":
        k = k.contiguous(memory_format=torch.channels_last)   # as the SN weights: oneDNN's faster layout
    return F.conv2d(x, k, bias, stride=2, padding=1)
