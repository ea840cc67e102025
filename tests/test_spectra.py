import pytest
import torch

from biggan.config.model import ModelConfig
from biggan.models import build_discriminator, build_generator
from biggan.spectra import SpectraTracker, weight_matrices


def set_known_spectra(model: torch.nn.Module, gen: torch.Generator) -> dict[str, list[float]]:
    """Give every tracked weight distinct singular values (3, 2, 1.5, 1, ...) of its (out, -1)
    reshape, scaled per layer; -> name -> expected top 3."""
    expected = {}
    for i, (name, w) in enumerate(weight_matrices(model).items()):
        m, n = w.shape[0], w[0].numel()
        k = min(m, n)
        S = torch.cat([torch.tensor([3.0, 2.0, 1.5]), torch.linspace(1.0, 0.1, max(k - 3, 0))])[:k]
        S = S * (1 + i / 10)
        U = torch.linalg.qr(torch.randn(m, k, generator=gen, dtype=torch.float64))[0]
        V = torch.linalg.qr(torch.randn(n, k, generator=gen, dtype=torch.float64))[0]
        with torch.no_grad():
            w.copy_(((U * S.double()) @ V.t()).reshape(w.shape))
        expected[name] = S[:3].tolist()
    return expected


def test_top3_matches_known_spectra_for_every_layer():
    # orthogonal init has all singular values 1 (a wrong reshape or order would pass); known,
    # distinct ones per layer do not
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    cfg = ModelConfig(resolution=32, ch=32, dim_z=120, n_classes=10, shared_dim=16, attention=[16])
    tracker = SpectraTracker()
    for model in (build_generator(cfg), build_discriminator(cfg)):
        expected = set_known_spectra(model, gen)
        got = tracker(model)
        assert set(got) == set(expected) and "shared" not in got
        for name, ref in expected.items():
            assert got[name] == pytest.approx(ref, rel=1e-4), name


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
