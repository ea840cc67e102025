import warnings

import numpy as np
import pytest
import scipy.linalg

from biggan.metrics.fid import (OFFSET, RankDeficientWarning, feature_stats, frechet_distance,
                                trace_sqrt_product)


def ttur_fid(mu1, s1, mu2, s2, offset: float = 0.0) -> float:
    """The TTUR / pytorch-fid formula with scipy's sqrtm, as a reference (`offset`: its branch
    for a singular product, the offset on the diagonals inside the square root only)."""
    off = offset * np.eye(len(s1))
    covmean = scipy.linalg.sqrtm((s1 + off) @ (s2 + off))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


def correlated(rng, n, d, shift=0.0):
    a = rng.normal(size=(d, d)) / np.sqrt(d)
    return rng.normal(size=(n, d)) @ a + shift


def test_feature_stats_match_numpy_cov():
    x = correlated(np.random.default_rng(0), 500, 16).astype(np.float32)
    mu, sigma = feature_stats(x, chunk=64)
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-14)


def test_fid_of_a_set_with_itself_is_zero():
    x = correlated(np.random.default_rng(1), 400, 32)
    mu, s = feature_stats(x)
    fid, imag = frechet_distance(mu, s, mu, s)
    assert abs(fid) < 1e-8 * np.trace(s)
    assert imag < 1e-6


def test_fid_matches_scipy_sqrtm_formula():
    rng = np.random.default_rng(2)
    mu1, s1 = feature_stats(correlated(rng, 600, 48))
    mu2, s2 = feature_stats(correlated(rng, 600, 48, shift=0.3))
    fid, imag = frechet_distance(mu1, s1, mu2, s2)
    ref = ttur_fid(mu1, s1, mu2, s2)
    assert ref > 1.0
    assert fid == pytest.approx(ref, rel=1e-9)
    assert imag < 1e-6


def test_fid_of_gaussians_has_closed_form():
    # diagonal covariances: FID = |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    fid, _ = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert fid == pytest.approx(5.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum(), rel=1e-12)


def test_rank_deficient_fewer_samples_than_dimensions():
    # N < D: M = S1^(1/2) S2 S1^(1/2) is singular and rounding gives it negative eigenvalues
    # (an imaginary root); TTUR's 1e-6 diagonal offset makes them positive
    rng = np.random.default_rng(3)
    with pytest.warns(RankDeficientWarning):
        mu1, s1 = feature_stats(correlated(rng, 40, 128))        # N < D: singular covariances
        mu2, s2 = feature_stats(correlated(rng, 50, 128, shift=0.1))
    assert np.linalg.matrix_rank(s1) < 128
    assert trace_sqrt_product(s1, s2)[1] > 0
    fid, imag = frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(fid) and fid > 0
    assert fid == pytest.approx(ttur_fid(mu1, s1, mu2, s2, offset=OFFSET), rel=1e-6)
    assert fid != pytest.approx(ttur_fid(mu1, s1, mu2, s2), rel=1e-6)    # the offset was used
    assert imag == 0.0


def test_small_negative_eigenvalue_is_repaired_by_the_offset():
    # rounding-sized negative eigenvalues (|x| < 1e-6) give an imaginary root without the offset
    s2 = np.diag([1.0, 1.0, -1e-8])
    assert trace_sqrt_product(np.eye(3), s2)[1] == pytest.approx(1e-4, rel=1e-9)
    fid, imag = frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), s2)
    assert imag == 0.0
    assert fid == pytest.approx(ttur_fid(np.zeros(3), np.eye(3), np.zeros(3), s2, offset=OFFSET), rel=1e-9)

def test_mismatched_or_nonfinite_statistics_rejected():
    with pytest.raises(ValueError, match="do not match"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="sigma2 has non-finite"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.array([[1.0, np.nan], [0.0, 1.0]]))


def test_large_imaginary_residue_is_an_error():
    # a "covariance" with a negative eigenvalue (corrupted statistics): no offset repairs it
    with pytest.raises(ValueError, match="imaginary part of 0.707.*not valid covariances"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.diag([1.0, -0.5]))


def test_warns_when_samples_do_not_exceed_dimensions():
    rng = np.random.default_rng(4)
    with pytest.warns(RankDeficientWarning, match="64 samples of 64-dimensional"):
        feature_stats(correlated(rng, 64, 64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        feature_stats(correlated(rng, 65, 64))
