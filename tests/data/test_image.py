from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from biggan.data.image import centre_crop_resize, decode, encode, preprocess, to_rgb
from tests.data.fakes import encoded, photo


@pytest.mark.parametrize("mode", ["L", "1", "P", "LA", "RGBA", "CMYK", "I", "F", "I;16"])
def test_every_mode_becomes_rgb(mode):
    im = to_rgb(photo(0, (12, 10)).convert(mode))
    assert im.mode == "RGB" and im.size == (12, 10)


def test_sixteen_bit_grey_keeps_its_range():
    im = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16))
    assert im.mode.startswith("I;16")
    assert np.asarray(to_rgb(im))[0, :, 0].tolist() == [0, 128, 255]


def test_palette_with_transparency_keeps_colours():
    p = photo(1, (8, 8)).convert("P")
    p.info["transparency"] = 0
    assert np.array_equal(np.asarray(to_rgb(p)), np.asarray(p.convert("RGBA").convert("RGB")))


def test_centre_crop_of_the_long_edge():
    a = np.zeros((10, 30, 3), np.uint8)
    a[:, 10:20] = 255                     # the centre square of a 30x10 image is white
    out = np.asarray(centre_crop_resize(Image.fromarray(a), 5, "bilinear"))
    assert out.shape == (5, 5, 3) and out.min() == 255
    b = np.zeros((30, 10, 3), np.uint8)
    b[:10] = 255                          # 10 wide, 30 high, white on top: the crop is all black
    assert np.asarray(centre_crop_resize(Image.fromarray(b), 5, "bilinear")).max() == 0


def test_draft_decodes_smaller_but_never_below_the_target():
    data = encoded(photo(2, (800, 600)), "JPEG", quality=90)
    full, size = decode(data)
    small, size_draft = decode(data, draft_to=128)
    assert size == size_draft == (800, 600) and full.size == (800, 600)
    assert small.size == (200, 150)       # 1/4 scale: 1/8 would be 100x75 < 128
    assert preprocess(data, 128, draft=True)[0].size == (128, 128)


def test_truncated_and_non_images_raise():
    data = encoded(photo(3, (64, 48)), "JPEG")
    with pytest.raises(OSError):
        decode(data[: len(data) // 2])
    with pytest.raises(OSError):
        decode(b"not an image")


def test_encode_round_trip():
    im = photo(4, (16, 16))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode(im, "png")))), np.asarray(im))
    with pytest.raises(ValueError, match="unknown encoding 'gif'"):
        encode(im, "gif")
