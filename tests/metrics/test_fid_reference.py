"""The reference's square root is computed once per content: a sweep's points share it."""
import numpy as np
import pytest

from biggan.metrics import fid
from biggan.metrics.fid import feature_stats, frechet_distance, psd_sqrt


def stats(seed: int, n: int, d: int = 24):
    rng = np.random.default_rng(seed)
    return feature_stats(rng.normal(size=(n, d)) @ rng.normal(size=(d, d)))


@pytest.fixture
def eigh_calls(monkeypatch):
    """Counts the symmetric eigendecompositions with eigenvectors (psd_sqrt's; the product's
    eigenvalues use eigvalsh), still computing them with numpy."""
    calls = []
    real = np.linalg.eigh

    def counted(a, *args, **kwargs):
        calls.append(a.shape)
        return real(a, *args, **kwargs)

    monkeypatch.setattr(fid.np.linalg, "eigh", counted)
    fid._ROOTS.clear()
    yield calls
    fid._ROOTS.clear()


def test_points_scored_against_one_reference_share_its_square_root(eigh_calls):
    ref = stats(0, 500)
    points = [stats(s, 500) for s in (1, 2, 3)]
    first = frechet_distance(*ref, *points[0])
    assert len(eigh_calls) == 1                       # full rank: no offset, one root
    rest = [frechet_distance(*ref, *p) for p in points[1:]]
    assert len(eigh_calls) == 1
    fid._ROOTS.clear()                                # the same numbers recomputed from scratch
    assert [frechet_distance(*ref, *p) for p in points] == [first, *rest]


def test_rank_deficient_points_reuse_the_plain_and_the_offset_root(eigh_calls):
    ref = stats(0, 10)                                # 10 samples of 24 dims: TTUR's offset branch
    points = [stats(s, 4) for s in (1, 2)]
    frechet_distance(*ref, *points[0])
    assert len(eigh_calls) == 2                       # sigma1 and sigma1 + offset
    frechet_distance(*ref, *points[1])
    assert len(eigh_calls) == 2


def test_another_reference_of_equal_shape_gets_its_own_root(eigh_calls):
    a, b = stats(0, 500), stats(5, 500)
    frechet_distance(*a, *b)
    d_ba = frechet_distance(*b, *a)
    assert len(eigh_calls) == 2 and len(fid._ROOTS) == 2
    np.testing.assert_array_equal(fid.reference_sqrt(b[1]), psd_sqrt(b[1]))
    assert d_ba[0] == pytest.approx(frechet_distance(*a, *b)[0], rel=1e-9)
    third = stats(9, 500)
    frechet_distance(*third, *a)
    assert len(fid._ROOTS) == 2                       # bounded: the oldest root is dropped
