"""`model:` section: the BigGAN architecture and each of the paper's switches."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, ValidationInfo, field_validator

from biggan.config.base import Strict


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

    @field_validator("resolution")
    @classmethod
    def _known_resolution(cls, v: int) -> int:
        from biggan.models.arch import ARCHS
        if v not in ARCHS:
            raise ValueError(f"resolution {v} has no architecture; allowed: {sorted(ARCHS)}")
        return v

    @field_validator("dim_z")
    @classmethod
    def _chunks(cls, v: int, info: ValidationInfo) -> int:
        from biggan.models.arch import ARCHS
        res, hier = info.data.get("resolution"), info.data.get("hier")
        if hier and res in ARCHS and v % ARCHS[res].num_z_chunks:
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
        from biggan.models.arch import ARCHS
        res = info.data.get("resolution")
        if res not in ARCHS:
            return v
        arch = ARCHS[res]
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
