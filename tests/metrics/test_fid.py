import numpy as np
import pytest
import scipy.linalg

from biggan.metrics.fid import feature_stats, frechet_distance


def ttur_fid(mu1, s1, mu2, s2) -> float:
    """The TTUR / pytorch-fid formula with scipy's sqrtm, as a reference."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
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
    rng = np.random.default_rng(3)
    mu1, s1 = feature_stats(correlated(rng, 40, 128))        # N < D: singular covariances
    mu2, s2 = feature_stats(correlated(rng, 50, 128, shift=0.1))
    assert np.linalg.matrix_rank(s1) < 128
    fid, imag = frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(fid) and fid > 0
    assert fid == pytest.approx(ttur_fid(mu1, s1, mu2, s2), rel=1e-6)
    assert imag < 1e-3 * fid


def test_imaginary_residue_is_reported():
    # a "covariance" with a negative eigenvalue makes (S1 S2)^(1/2) complex
    s1 = np.eye(3)
    s2 = np.diag([1.0, 1.0, -0.25])
    fid, imag = frechet_distance(np.zeros(3), s1, np.zeros(3), s2)
    assert imag == pytest.approx(2 * 0.5, rel=1e-9)       # 2 * Im(sqrt(-0.25))
    assert fid == pytest.approx(1.75 + 3 - 2 * 2, rel=1e-9)


def test_mismatched_or_nonfinite_statistics_rejected():
    with pytest.raises(ValueError, match="do not match"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="sigma2 has non-finite"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.array([[1.0, np.nan], [0.0, 1.0]]))
