"""BigGAN-deep's exact parameter counts against two independent references (meta device: instant).

compare_gan (`resnet_biggan_deep_test.py`): at 128 px, 1,000 classes, dim_z 128, ch 128 its
G has 50,244,484 and D 34,590,210 trainable parameters. Its G has the same parameters as ours
with the default switches: a bias-free 1000x128 class embedding (our shared nn.Embedding),
a biased first linear on [z, embed(y)] (256 inputs), bias-free CBN gain/bias linears on the
same 256 inputs, biased convs, a final BN with gain and bias, a 3-channel output conv. (Its
CBN gain is not one-centred, which changes no count.) D: biased convs, the widening shortcut's
1x1 conv with bias, a biased final linear, a bias-free projection table.

The author's BigGANdeep.py (BigGAN-PyTorch) builds the same blocks with two differences of
convention: G's output conv makes 128 channels and keeps the first 3 (`rgb_conv_channels:
128`, +144,125 parameters at ch 128), and the class's defaults are G at 512 px with G_ch 128
but D at 128 px with D_ch 64 (its BigGAN-deep launch script sets D_ch 128). `reference_counts`
below derives both networks' counts in closed form from the references' layer lists (channel
multipliers per block, as listed in compare_gan's `_get_in_out_channels`), independently of
the module code.
"""
import pytest

from biggan.config.model import ModelConfig
from biggan.models import summarize

DEEP = dict(arch="biggan_deep", hier=False, n_classes=1000, dim_z=128, shared_dim=128, attention=[64])

# per-block channel multipliers (block i maps m[i] -> m[i+1]); G: even blocks keep the
# resolution, odd ones upsample; D: even blocks downsample (compare_gan's tables)
G_MULT = {128: [16] * 4 + [8] * 2 + [4, 4, 2, 2, 1], 256: [16] * 4 + [8] * 4 + [4, 4, 2, 2, 1],
          512: [16] * 4 + [8] * 4 + [4, 4, 2, 2, 1, 1, 1]}
D_MULT = {128: [1, 2, 2, 4, 4] + [8] * 2 + [16] * 4, 256: [1, 2, 2, 4, 4] + [8] * 4 + [16] * 4,
          512: [1, 1, 1, 2, 2, 4, 4] + [8] * 4 + [16] * 4}


def conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def attention(c: int) -> int:
    return 2 * conv(c, c // 8, 1, False) + conv(c, c // 2, 1, False) + conv(c // 2, c, 1, False) + 1


def reference_counts(res: int, g_ch: int, d_ch: int, rgb: int = 3, classes: int = 1000, dim_z: int = 128,
                     emb: int = 128) -> tuple[int, int]:
    cond = dim_z + emb
    gm, dm = G_MULT[res], D_MULT[res]
    g = classes * emb + conv(cond, gm[0] * g_ch * 16, 1)          # embedding, first linear (as a 1x1)
    side = 4
    for i in range(len(gm) - 1):
        cin, cout = gm[i] * g_ch, gm[i + 1] * g_ch
        h = cin // 4
        g += conv(cin, h, 1) + 2 * conv(h, h, 3) + conv(h, cout, 1) + 2 * cond * (cin + 3 * h)
        if i % 2:
            side *= 2
            g += attention(cout) if side == 64 else 0
    g += 2 * gm[-1] * g_ch + conv(gm[-1] * g_ch, rgb, 3)           # final BN, output conv
    d, side = conv(3, dm[0] * d_ch, 3), res
    for i in range(len(dm) - 1):
        cin, cout = dm[i] * d_ch, dm[i + 1] * d_ch
        h = cout // 4
        d += conv(cin, h, 1) + 2 * conv(h, h, 3) + conv(h, cout, 1) + (conv(cin, cout - cin, 1) if cout > cin else 0)
        if i % 2 == 0:
            side //= 2
        elif side == 64:
            d += attention(cout)
    d += conv(dm[-1] * d_ch, 1, 1) + classes * dm[-1] * d_ch        # final linear, projection
    return g, d


def test_compare_gan_128_exact():
    s = summarize(ModelConfig(resolution=128, ch=128, **DEEP))
    assert (s.g_params, s.d_params) == (50_244_484, 34_590_210)     # resnet_biggan_deep_test.py
    assert (s.g_params, s.d_params) == reference_counts(128, 128, 128)
    assert s.shared_embedding == 128_000
    assert round(s.paper_params_m, 2) == 84.71


def test_author_biggandeep_py_128_as_launched():
    """BigGANdeep.py with its launch script's G_ch = D_ch = 128 at 128 px."""
    s = summarize(ModelConfig(resolution=128, ch=128, rgb_conv_channels=128, **DEEP))
    assert (s.g_params, s.d_params) == (50_388_609, 34_590_210)
    assert (s.g_params, s.d_params) == reference_counts(128, 128, 128, rgb=128)
    assert s.g_params - 50_244_484 == conv(128, 128, 3) - conv(128, 3, 3) == 144_125


def test_author_biggandeep_py_class_defaults():
    """Generator(): 512 px, G_ch 128, dim_z 128, shared_dim 0 -> dim_z; Discriminator(): 128 px, D_ch 64."""
    g = summarize(ModelConfig(resolution=512, ch=128, rgb_conv_channels=128, **DEEP)).g_params
    d = summarize(ModelConfig(resolution=128, ch=64, **DEEP)).d_params
    assert (g, d) == (56_163_905, 9_166_594)
    assert g == reference_counts(512, 128, 64, rgb=128)[0] and d == reference_counts(128, 128, 64)[1]


@pytest.mark.parametrize("res,g,d", [(256, 55_736_708, 38_247_426), (512, 56_019_780, 38_301_122)])
def test_compare_gan_layouts_at_256_and_512(res, g, d):
    s = summarize(ModelConfig(resolution=res, ch=128, **DEEP))
    assert (s.g_params, s.d_params) == (g, d) == reference_counts(res, 128, 128)


def test_biggan_counts_unchanged_by_the_arch_field():
    s = summarize(ModelConfig(resolution=128, ch=96, n_classes=1000, shared_dim=128, dim_z=120, attention=[64]))
    assert (s.arch, s.g_params, s.d_params) == ("biggan", 70_433_988, 87_982_370)
