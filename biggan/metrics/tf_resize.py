"""TensorFlow 1.x `ResizeBilinear` (align_corners=False, no half-pixel centres, no antialias).

This is the resize inside the TF FID/IS Inception graph (`ExpandDims` -> `ResizeBilinear` to
299x299). For output pixel i the source coordinate is s = i * (in / out), computed in float32
as TF does; lo = floor(s), hi = min(lo + 1, in - 1), w = s - lo and
    out[i] = in[lo] + (in[hi] - in[lo]) * w,
first along x, then along y (TF's order of the two lerps).
torch's `F.interpolate(..., align_corners=False)` uses s = (i + 0.5) * in/out - 0.5 instead,
which moves Inception features by tens of percent on small inputs.
"""
from __future__ import annotations

import torch


def _axis(in_size: int, out_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    scale = torch.tensor(in_size / out_size, dtype=torch.float32)
    src = torch.arange(out_size, dtype=torch.float32) * scale
    lo = src.floor().long()
    hi = (lo + 1).clamp(max=in_size - 1)
    return lo.to(device), hi.to(device), (src - lo.float()).to(device)


def resize_bilinear_tf1(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) float -> (N, C, size[0], size[1]), TF1 ResizeBilinear semantics."""
    if x.dim() != 4 or not torch.is_floating_point(x):
        raise ValueError(f"expected a float (N, C, H, W) tensor, got {tuple(x.shape)} {x.dtype}")
    out_h, out_w = size
    if (x.shape[2], x.shape[3]) == (out_h, out_w):
        return x
    y_lo, y_hi, wy = _axis(x.shape[2], out_h, x.device)
    x_lo, x_hi, wx = _axis(x.shape[3], out_w, x.device)
    wx = wx.to(x.dtype).view(1, 1, 1, -1)
    wy = wy.to(x.dtype).view(1, 1, -1, 1)
    top, bottom = x[:, :, y_lo], x[:, :, y_hi]
    top = top[..., x_lo] + (top[..., x_hi] - top[..., x_lo]) * wx
    bottom = bottom[..., x_lo] + (bottom[..., x_hi] - bottom[..., x_lo]) * wx
    return top + (bottom - top) * wy
