"""Per-resolution layouts of G and D (channel multipliers of `ch`), as in the paper's appendix.

G starts from a (16ch or 4ch) x 4 x 4 tensor and doubles the resolution in every block;
D halves it in every block flagged `down`. `*_res` is each block's output resolution:
self-attention is attached after the block whose output matches a configured resolution.

16x16 is this project's own small layout (two up-blocks), used by the embedded digits
default; 32 is the CIFAR layout; 64-512 follow the paper (ImageNet).
"""
from __future__ import annotations

from dataclasses import dataclass

RGB = 0  # marker in d_in: the image itself (3 channels)


@dataclass(frozen=True)
class Arch:
    resolution: int
    g_in: tuple[int, ...]
    g_out: tuple[int, ...]
    g_res: tuple[int, ...]
    d_in: tuple[int, ...]
    d_out: tuple[int, ...]
    d_down: tuple[bool, ...]
    d_res: tuple[int, ...]
    bottom_width: int = 4

    @property
    def num_g_blocks(self) -> int:
        return len(self.g_out)

    @property
    def num_z_chunks(self) -> int:
        """Skip-z: one chunk for the first linear plus one per G block."""
        return self.num_g_blocks + 1

    @property
    def attention_resolutions(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.g_res) | set(self.d_res)))


ARCHS: dict[int, Arch] = {
    16: Arch(16, g_in=(4, 4), g_out=(4, 4), g_res=(8, 16),
             d_in=(RGB, 4, 4), d_out=(4, 4, 4), d_down=(True, True, False), d_res=(8, 4, 4)),
    32: Arch(32, g_in=(4, 4, 4), g_out=(4, 4, 4), g_res=(8, 16, 32),
             d_in=(RGB, 4, 4, 4), d_out=(4, 4, 4, 4), d_down=(True, True, False, False),
             d_res=(16, 8, 8, 8)),
    64: Arch(64, g_in=(16, 16, 8, 4), g_out=(16, 8, 4, 2), g_res=(8, 16, 32, 64),
             d_in=(RGB, 1, 2, 4, 8), d_out=(1, 2, 4, 8, 16), d_down=(True,) * 4 + (False,),
             d_res=(32, 16, 8, 4, 4)),
    128: Arch(128, g_in=(16, 16, 8, 4, 2), g_out=(16, 8, 4, 2, 1), g_res=(8, 16, 32, 64, 128),
              d_in=(RGB, 1, 2, 4, 8, 16), d_out=(1, 2, 4, 8, 16, 16), d_down=(True,) * 5 + (False,),
              d_res=(64, 32, 16, 8, 4, 4)),
    256: Arch(256, g_in=(16, 16, 8, 8, 4, 2), g_out=(16, 8, 8, 4, 2, 1),
              g_res=(8, 16, 32, 64, 128, 256),
              d_in=(RGB, 1, 2, 4, 8, 8, 16), d_out=(1, 2, 4, 8, 8, 16, 16),
              d_down=(True,) * 6 + (False,), d_res=(128, 64, 32, 16, 8, 4, 4)),
    512: Arch(512, g_in=(16, 16, 8, 8, 4, 2, 1), g_out=(16, 8, 8, 4, 2, 1, 1),
              g_res=(8, 16, 32, 64, 128, 256, 512),
              d_in=(RGB, 1, 1, 2, 4, 8, 8, 16), d_out=(1, 1, 2, 4, 8, 8, 16, 16),
              d_down=(True,) * 7 + (False,), d_res=(256, 128, 64, 32, 16, 8, 4, 4)),
}


# BigGAN-deep's layouts (appendix B, Tables 7-9), in the same fields: per stage `depth`
# bottleneck blocks. G: all but the last keep the width, the last narrows g_in -> g_out and
# doubles the resolution. D: a 3x3 stem conv to d_in[0] channels (no RGB marker), then per stage
# the first block widens d_in -> d_out (and halves the resolution where `d_down`), the others
# keep d_out. G's stages are BigGAN's; D has no unpooled final block (a stage per halving).
# 512 px: the author's code has no D layout, compare_gan's is used. 16 px is this project's own.


def _deep(res: int, d_in: tuple[int, ...], d_out: tuple[int, ...], d_res: tuple[int, ...],
          d_down: tuple[bool, ...] | None = None) -> Arch:
    a = ARCHS[res]
    return Arch(res, a.g_in, a.g_out, a.g_res, d_in, d_out, d_down or (True,) * len(d_in), d_res)


DEEP_ARCHS: dict[int, Arch] = {
    16: _deep(16, (4, 4), (4, 4), (8, 4)),
    32: _deep(32, (4, 4, 4), (4, 4, 4), (16, 8, 8), (True, True, False)),
    64: _deep(64, (1, 2, 4, 8), (2, 4, 8, 16), (32, 16, 8, 4)),
    128: _deep(128, (1, 2, 4, 8, 16), (2, 4, 8, 16, 16), (64, 32, 16, 8, 4)),
    256: _deep(256, (1, 2, 4, 8, 8, 16), (2, 4, 8, 8, 16, 16), (128, 64, 32, 16, 8, 4)),
    512: _deep(512, (1, 1, 2, 4, 8, 8, 16), (1, 2, 4, 8, 8, 16, 16), (256, 128, 64, 32, 16, 8, 4)),
}

LAYOUTS: dict[str, dict[int, Arch]] = {"biggan": ARCHS, "biggan_deep": DEEP_ARCHS}   # model.arch -> layouts


def get_arch(arch: str, resolution: int) -> Arch:
    """The layout of `arch` (model.arch: biggan or biggan_deep) at `resolution`."""
    try:
        return LAYOUTS[arch][resolution]
    except KeyError:
        allowed = sorted(LAYOUTS[arch]) if arch in LAYOUTS else sorted(LAYOUTS)
        raise ValueError(f"no {arch} architecture for resolution {resolution}; allowed: {allowed}") from None
