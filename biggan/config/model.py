"""`model:` section: the architecture (BigGAN or BigGAN-deep) and each of the paper's switches."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, ValidationInfo, field_validator

from biggan.config.base import Strict
from biggan.paper.archs import ARCHS, DEEP_ARCHS


class SpectralNormConfig(Strict):
    g: bool = True                       # SN on every conv/linear of G
    d: bool = True                       # SN on every conv/linear/embedding of D
    num_itrs: PositiveInt = 1            # power iterations per forward pass in training
    eps: float = Field(1e-6, gt=0)


class SplitAttention(Strict):
    """Self-attention resolutions of G and D separately (e.g. the released BigGAN-256: G 128, D 64)."""

    g: list[int] = []
    d: list[int] = []


class ModelConfig(Strict):
    # field order matters: validators of later fields read the earlier ones
    # biggan: the paper's BigGAN; biggan_deep: BigGAN-deep (appendix B: bottleneck blocks,
    # g_depth/d_depth per resolution, the whole z with shared(y) conditioning every block)
    arch: Literal["biggan", "biggan_deep"] = "biggan"
    resolution: int = 128
    ch: PositiveInt = 96                 # G channel multiplier
    d_ch: PositiveInt | None = None      # D channel multiplier (default: ch)
    n_classes: PositiveInt = 1000
    shared: bool = True                  # one shared class embedding feeding every CBN
    shared_dim: PositiveInt = 128
    hier: bool = True                    # skip-z: z split into one chunk per G block + 1
    dim_z: PositiveInt = 120
    # resolutions with a self-attention block: a list applies to G and D, {g: [...], d: [...]}
    # sets them separately
    attention: list[int] | SplitAttention = [64]
    sn: SpectralNormConfig = SpectralNormConfig()
    bn_eps: float = Field(1e-5, gt=0)
    one_centred_gain: bool = True        # CBN gain = 1 + W_g c (False reproduces compare_gan's bug)
    projection: bool = True              # projection discriminator <embed(y), h>
    init: Literal["ortho", "N02", "xavier"] = "ortho"
    # BigGAN-deep only: blocks per resolution (default 2, the paper's)
    g_depth: PositiveInt | None = None
    d_depth: PositiveInt | None = None
    # BigGAN-deep only: channels of G's last conv, of which the first 3 are the image. 3 in the
    # paper and compare_gan; the author's BigGANdeep.py convolves to 128 and keeps 3 (+144,125
    # parameters at ch 128), so its parameter count needs 128 here.
    rgb_conv_channels: int = Field(3, ge=3)

    @field_validator("resolution")
    @classmethod
    def _known_resolution(cls, v: int, info: ValidationInfo) -> int:
        layouts = DEEP_ARCHS if info.data.get("arch") == "biggan_deep" else ARCHS
        if v not in layouts:
            raise ValueError(f"resolution {v} has no architecture; allowed: {sorted(layouts)}")
        return v

    @field_validator("ch")
    @classmethod
    def _deep_g_width(cls, v: int, info: ValidationInfo) -> int:
        arch = _deep_arch(info)
        if arch is not None and min(arch.g_in) * v < 4:
            raise ValueError(f"ch {v} is too narrow for BigGAN-deep at {arch.resolution}px: its narrowest G "
                             f"block would have {min(arch.g_in) * v} channels, fewer than the 4 a bottleneck "
                             f"(channels / 4) needs; use ch >= {-(-4 // min(arch.g_in))}")
        return v

    @field_validator("d_ch")
    @classmethod
    def _deep_d_width(cls, v: int | None, info: ValidationInfo) -> int | None:
        arch, ch = _deep_arch(info), v or info.data.get("ch")
        if arch is not None and ch is not None and min(arch.d_out) * ch < 4:
            raise ValueError(f"D channels {ch} (d_ch, default ch) are too narrow for BigGAN-deep at "
                             f"{arch.resolution}px: its narrowest D block would have {min(arch.d_out) * ch} "
                             f"channels, fewer than 4; use d_ch >= {-(-4 // min(arch.d_out))}")
        return v

    @field_validator("shared")
    @classmethod
    def _deep_needs_shared(cls, v: bool, info: ValidationInfo) -> bool:
        if info.data.get("arch") == "biggan_deep" and not v:
            raise ValueError("BigGAN-deep conditions every block on [z, shared(y)]: it needs shared: true")
        return v

    @field_validator("hier")
    @classmethod
    def _deep_has_no_skip_z(cls, v: bool, info: ValidationInfo) -> bool:
        if info.data.get("arch") == "biggan_deep" and v:
            raise ValueError("BigGAN-deep has no skip-z (the whole z conditions every block): set hier: false")
        return v

    @field_validator("g_depth", "d_depth", "rgb_conv_channels")
    @classmethod
    def _deep_only(cls, v: int | None, info: ValidationInfo) -> int | None:
        default = 3 if info.field_name == "rgb_conv_channels" else None
        if info.data.get("arch") == "biggan" and v != default:
            raise ValueError(f"{info.field_name} applies to arch: biggan_deep only (this model is arch: biggan)")
        return v

    @field_validator("dim_z")
    @classmethod
    def _chunks(cls, v: int, info: ValidationInfo) -> int:
        res, hier = info.data.get("resolution"), info.data.get("hier")
        if hier and info.data.get("arch") == "biggan" and res in ARCHS and v % ARCHS[res].num_z_chunks:
            arch = ARCHS[res]
            k = arch.num_z_chunks
            raise ValueError(
                f"dim_z {v} is not divisible into {k} chunks (skip-z with {arch.num_g_blocks} "
                f"G blocks at {res}px); use a multiple of {k}, e.g. {v // k * k or k}, "
                f"or set hier: false"
            )
        return v

    @field_validator("attention", mode="before")
    @classmethod
    def _attention_form(cls, v: object) -> object:
        # one clear message instead of one per union member
        if isinstance(v, dict):
            unknown = sorted(set(v) - {"g", "d"})
            if unknown:
                raise ValueError(f"unknown key(s) {unknown}; the mapping form takes g and d "
                                 f"(lists of resolutions), e.g. {{g: [128], d: [64]}}")
            for key, val in v.items():
                if not isinstance(val, list) or not all(isinstance(r, int) for r in val):
                    raise ValueError(f"{key} must be a list of resolutions (integers), got {val!r}")
        elif not isinstance(v, (list, tuple, SplitAttention)):
            raise ValueError("expected a list of resolutions (G and D) or a mapping {g: [...], d: [...]}")
        return v

    @field_validator("attention")
    @classmethod
    def _attention_exists(cls, v: list[int] | SplitAttention, info: ValidationInfo) -> list[int] | SplitAttention:
        res = info.data.get("resolution")
        if res not in ARCHS:
            return v
        arch = DEEP_ARCHS[res] if info.data.get("arch") == "biggan_deep" else ARCHS[res]
        if isinstance(v, SplitAttention):
            checks = [("under g ", v.g, arch.g_res, "G"), ("under d ", v.d, arch.d_res, "D")]
        else:
            checks = [("", v, arch.attention_resolutions, "G or D")]
        for key, chosen, allowed, nets in checks:
            bad = [r for r in chosen if r not in allowed]
            if bad:
                raise ValueError(f"resolutions {bad} {key}are not {nets} block outputs at resolution "
                                 f"{res}; allowed: {sorted(set(allowed))}")
        return v

    @property
    def g_attention(self) -> list[int]:
        return list(self.attention.g if isinstance(self.attention, SplitAttention) else self.attention)

    @property
    def d_attention(self) -> list[int]:
        return list(self.attention.d if isinstance(self.attention, SplitAttention) else self.attention)

    @property
    def d_channels(self) -> int:
        return self.d_ch or self.ch

    @property
    def depth_g(self) -> int:
        return self.g_depth or 2

    @property
    def depth_d(self) -> int:
        return self.d_depth or 2


def _deep_arch(info: ValidationInfo):
    """The BigGAN-deep layout being validated, or None (BigGAN, or an invalid resolution)."""
    if info.data.get("arch") != "biggan_deep":
        return None
    return DEEP_ARCHS.get(info.data.get("resolution"))
