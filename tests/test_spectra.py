import pytest
import torch

from biggan.config.model import ModelConfig
from biggan.models import build_discriminator, build_generator
from biggan.spectra import SpectraTracker, weight_matrices


def test_top3_matches_svdvals_for_every_layer():
    torch.manual_seed(0)
    cfg = ModelConfig(resolution=32, ch=32, dim_z=120, n_classes=10, shared_dim=16, attention=[16])
    tracker = SpectraTracker()
    for model in (build_generator(cfg), build_discriminator(cfg)):
        got = tracker(model)
        mats = weight_matrices(model)
        assert set(got) == set(mats) and "shared" not in got
        for name, w in mats.items():
            ref = torch.linalg.svdvals(w.detach().reshape(w.shape[0], -1))[:3]
            assert got[name] == pytest.approx(ref.tolist(), rel=2e-3), name


def test_iterative_path_and_warm_start():
    torch.manual_seed(0)
    U = torch.linalg.qr(torch.randn(600, 600))[0]
    V = torch.linalg.qr(torch.randn(900, 600))[0]
    S = torch.linspace(5, 0.1, 600)
    S[:3] = torch.tensor([20.0, 15.0, 12.0])
    w = (U * S) @ V.t()                                   # (600, 900): beyond the exact-SVD size
    tracker = SpectraTracker()
    assert tracker.top("w", w).tolist() == pytest.approx([20.0, 15.0, 12.0], rel=1e-3)
    w2 = w * 1.01                                         # next check: warm start, few iterations
    assert tracker.top("w", w2).tolist() == pytest.approx([20.2, 15.15, 12.12], rel=1e-3)
