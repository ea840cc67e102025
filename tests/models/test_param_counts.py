"""Parameter counts of the paper's Table 1 configurations (128x128, 1000 classes, attention at 64).

G and D are the exact counts of the author's code; "paper" is Table 1's Param (M) column,
G + D without the shared embedding. Built on the meta device: instant, no memory.
"""
import pytest

from biggan.config.model import ModelConfig
from biggan.models import summarize

ROWS = [
    # (ch, shared, skip-z, dim_z), G, D, paper Param (M)
    ((64, False, False, 128), 42_017_412, 39_448_258, 81.5),
    ((96, False, False, 128), 85_556_164, 87_982_370, 173.5),
    ((96, True, False, 128), 72_792_516, 87_982_370, 160.6),
    ((96, True, True, 120), 70_433_988, 87_982_370, 158.3),
    ((64, True, True, 120), 31_978_628, 39_448_258, 71.3),
]


@pytest.mark.parametrize("cfg,g,d,paper", ROWS, ids=[str(r[0]) for r in ROWS])
def test_table1_param_counts(cfg, g, d, paper):
    ch, shared, hier, dim_z = cfg
    s = summarize(ModelConfig(resolution=128, ch=ch, shared=shared, hier=hier, dim_z=dim_z,
                              n_classes=1000, shared_dim=128, attention=[64]))
    assert (s.g_params, s.d_params) == (g, d)
    assert s.shared_embedding == (128_000 if shared else 0)
    assert round(s.paper_params_m, 1) == paper


@pytest.mark.parametrize("res", [16, 32, 64, 128, 256, 512])
def test_every_resolution_builds(res):
    dim_z = {512: 160}.get(res, 120)
    s = summarize(ModelConfig(resolution=res, ch=8, dim_z=dim_z, hier=False, attention=[]))
    assert s.g_params > 0 and s.d_params > 0
