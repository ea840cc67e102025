import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from biggan.metrics.tf_resize import resize_bilinear_tf1


def direct_tf1(img: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """TF1 ResizeBilinear (align_corners=False, half_pixel_centers=False), pixel by pixel.

    Source coordinates in float32 as TF computes them; interpolation in float64.
    """
    _, _, h, w = img.shape
    out = torch.empty(img.shape[0], img.shape[1], out_h, out_w, dtype=torch.float64)
    for i in range(out_h):
        y = float(np.float32(i) * np.float32(h / out_h))
        y0 = math.floor(y)
        y1, fy = min(y0 + 1, h - 1), y - y0
        for j in range(out_w):
            x = float(np.float32(j) * np.float32(w / out_w))
            x0 = math.floor(x)
            x1, fx = min(x0 + 1, w - 1), x - x0
            top = img[:, :, y0, x0] * (1 - fx) + img[:, :, y0, x1] * fx
            bottom = img[:, :, y1, x0] * (1 - fx) + img[:, :, y1, x1] * fx
            out[:, :, i, j] = top * (1 - fy) + bottom * fy
    return out


@pytest.mark.parametrize("shape,size", [((7, 5), (23, 31)), ((16, 16), (299, 23)), ((40, 33), (9, 12))])
def test_matches_direct_formula(shape, size):
    img = torch.randint(0, 256, (2, 3, *shape), generator=torch.Generator().manual_seed(0)).double()
    got = resize_bilinear_tf1(img, size)
    assert got.shape == (2, 3, *size)
    torch.testing.assert_close(got, direct_tf1(img, *size), rtol=0, atol=1e-9)


def test_2x_upsampling_known_values():
    row = torch.tensor([[[[0.0, 10.0, 30.0]]]])
    out = resize_bilinear_tf1(row, (1, 6))
    # sources 0, .5, 1, 1.5, 2, 2.5 -> the last clamps to the edge (no half-pixel shift)
    assert out.flatten().tolist() == [0.0, 5.0, 10.0, 20.0, 30.0, 30.0]


def test_same_size_is_identity_and_differs_from_torch_default():
    img = torch.rand(1, 3, 8, 8) * 255
    assert torch.equal(resize_bilinear_tf1(img, (8, 8)), img)
    tf = resize_bilinear_tf1(img, (299, 299))
    torch_default = F.interpolate(img, size=(299, 299), mode="bilinear", align_corners=False)
    assert (tf - torch_default).abs().max() > 1.0


def test_rejects_integer_input():
    with pytest.raises(ValueError, match="float"):
        resize_bilinear_tf1(torch.zeros(1, 3, 4, 4, dtype=torch.uint8), (8, 8))
