"""The layout of pt_inception-2015-12-05-6726825d.pth, written out as data (not from our model).

Every conv is a BasicConv2d: <name>.conv.weight (out, in, kh, kw) without bias, and
<name>.bn.{weight, bias, running_mean, running_var} (out,) plus bn.num_batches_tracked ().
"""
from __future__ import annotations

import torch

NUM_KEYS = 566
NUM_VALUES = 23_885_392      # every tensor but num_batches_tracked (parameters + BN running stats)


def _a(n, cin, pool):
    return [(f"{n}.branch1x1", cin, 64, 1, 1), (f"{n}.branch5x5_1", cin, 48, 1, 1), (f"{n}.branch5x5_2", 48, 64, 5, 5),
            (f"{n}.branch3x3dbl_1", cin, 64, 1, 1), (f"{n}.branch3x3dbl_2", 64, 96, 3, 3),
            (f"{n}.branch3x3dbl_3", 96, 96, 3, 3), (f"{n}.branch_pool", cin, pool, 1, 1)]


def _c(n, c7):
    return [(f"{n}.branch1x1", 768, 192, 1, 1), (f"{n}.branch7x7_1", 768, c7, 1, 1), (f"{n}.branch7x7_2", c7, c7, 1, 7),
            (f"{n}.branch7x7_3", c7, 192, 7, 1), (f"{n}.branch7x7dbl_1", 768, c7, 1, 1),
            (f"{n}.branch7x7dbl_2", c7, c7, 7, 1), (f"{n}.branch7x7dbl_3", c7, c7, 1, 7),
            (f"{n}.branch7x7dbl_4", c7, c7, 7, 1), (f"{n}.branch7x7dbl_5", c7, 192, 1, 7),
            (f"{n}.branch_pool", 768, 192, 1, 1)]


def _e(n, cin):
    return [(f"{n}.branch1x1", cin, 320, 1, 1), (f"{n}.branch3x3_1", cin, 384, 1, 1),
            (f"{n}.branch3x3_2a", 384, 384, 1, 3), (f"{n}.branch3x3_2b", 384, 384, 3, 1),
            (f"{n}.branch3x3dbl_1", cin, 448, 1, 1), (f"{n}.branch3x3dbl_2", 448, 384, 3, 3),
            (f"{n}.branch3x3dbl_3a", 384, 384, 1, 3), (f"{n}.branch3x3dbl_3b", 384, 384, 3, 1),
            (f"{n}.branch_pool", cin, 192, 1, 1)]


CONVS = [
    ("Conv2d_1a_3x3", 3, 32, 3, 3), ("Conv2d_2a_3x3", 32, 32, 3, 3), ("Conv2d_2b_3x3", 32, 64, 3, 3),
    ("Conv2d_3b_1x1", 64, 80, 1, 1), ("Conv2d_4a_3x3", 80, 192, 3, 3),
    *_a("Mixed_5b", 192, 32), *_a("Mixed_5c", 256, 64), *_a("Mixed_5d", 288, 64),
    ("Mixed_6a.branch3x3", 288, 384, 3, 3), ("Mixed_6a.branch3x3dbl_1", 288, 64, 1, 1),
    ("Mixed_6a.branch3x3dbl_2", 64, 96, 3, 3), ("Mixed_6a.branch3x3dbl_3", 96, 96, 3, 3),
    *_c("Mixed_6b", 128), *_c("Mixed_6c", 160), *_c("Mixed_6d", 160), *_c("Mixed_6e", 192),
    ("Mixed_7a.branch3x3_1", 768, 192, 1, 1), ("Mixed_7a.branch3x3_2", 192, 320, 3, 3),
    ("Mixed_7a.branch7x7x3_1", 768, 192, 1, 1), ("Mixed_7a.branch7x7x3_2", 192, 192, 1, 7),
    ("Mixed_7a.branch7x7x3_3", 192, 192, 7, 1), ("Mixed_7a.branch7x7x3_4", 192, 192, 3, 3),
    *_e("Mixed_7b", 1280), *_e("Mixed_7c", 2048),
]


def random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights under the file's names and shapes; activations stay O(1) (He init, BN ~ identity)."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    for name, cin, cout, kh, kw in CONVS:
        sd[f"{name}.conv.weight"] = torch.randn(cout, cin, kh, kw, generator=g) * (2.0 / (cin * kh * kw)) ** 0.5
        sd[f"{name}.bn.weight"] = 1.0 + 0.1 * torch.randn(cout, generator=g)
        sd[f"{name}.bn.bias"] = 0.1 * torch.randn(cout, generator=g)
        sd[f"{name}.bn.running_mean"] = 0.1 * torch.randn(cout, generator=g)
        sd[f"{name}.bn.running_var"] = 1.0 + 0.1 * torch.rand(cout, generator=g)
        sd[f"{name}.bn.num_batches_tracked"] = torch.tensor(0)
    sd["fc.weight"] = torch.randn(1008, 2048, generator=g) / 2048 ** 0.5
    sd["fc.bias"] = torch.randn(1008, generator=g)
    return sd
