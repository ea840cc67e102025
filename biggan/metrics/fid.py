"""Feature statistics and the Frechet distance (Heusel et al. 2017, TTUR), in float64.

FID = |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))

Tr((S_r S_g)^(1/2)) is the sum of square roots of the eigenvalues of S_r S_g, which equal those
of the symmetric PSD M = S_r^(1/2) S_g S_r^(1/2) (eig(AB) = eig(BA) with A = S_r^(1/2),
B = S_r^(1/2) S_g). Two symmetric eigendecompositions (backward stable, fine for N < D, where
the covariances are singular) replace scipy's sqrtm of the non-symmetric product. S_r is a
covariance: its eigenvalues below zero (rounding) are set to zero before its square root. Rounding
can leave slightly negative eigenvalues in M: their square roots are imaginary, and the magnitude
of the imaginary part they give the FID is returned as `imag`.

Safeguards of the TTUR code, kept with this formula: when M is singular (an eigenvalue at or
below zero, which rounding turns into an imaginary root) the trace is recomputed with 1e-6
added to both covariances' diagonals; if the imaginary part is still large (above 1e-3, TTUR's
bound, relative to the trace when that exceeds 1), the statistics are not covariances (or are
hopelessly ill-conditioned) and a ValueError says so. With N <= D samples a D-dimensional
covariance is rank-deficient (Inception pool3: D = 2048), and `feature_stats` warns.

The square root of sigma1 (by convention the reference: the scorer passes the real images'
statistics first) is kept for the last two contents seen, keyed by a hash of their bytes, so the
points of a truncation sweep pay its D x D eigendecomposition once (plain and offset) instead of
once per point; results are bitwise those of recomputing it.
"""
from __future__ import annotations

import hashlib
import warnings

import numpy as np

OFFSET = 1e-6      # TTUR's diagonal offset for a singular product
IMAG_TOL = 1e-3    # TTUR's bound on the imaginary residue (relative above a trace of 1)


class RankDeficientWarning(UserWarning):
    """Fewer samples than feature dimensions: the covariance is singular, FID biased upwards."""


def feature_stats(feats: np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features -> (mu (D,), sigma (D, D)) in float64; sigma with ddof=1 like np.cov."""
    n = len(feats)
    if n < 2:
        raise ValueError(f"feature statistics need at least 2 samples, got {n}")
    if n <= feats.shape[1]:
        warnings.warn(f"{n} samples of {feats.shape[1]}-dimensional features: the covariance has rank "
                      f"< {feats.shape[1]} and the FID is not comparable with FIDs over more than "
                      f"{feats.shape[1]} samples (the paper's: 50k)", RankDeficientWarning, stacklevel=2)
    mu = feats.mean(axis=0, dtype=np.float64)
    sigma = np.zeros((feats.shape[1], feats.shape[1]))
    for i in range(0, n, chunk):
        c = feats[i:i + chunk].astype(np.float64) - mu
        sigma += c.T @ c
    return mu, sigma / (n - 1)


def psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix (eigenvalues below 0, i.e. rounding, set to 0)."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


_ROOTS: dict[tuple, np.ndarray] = {}   # (shape, dtype, blake2b of the bytes) -> psd_sqrt; at most 2 entries


def reference_sqrt(s: np.ndarray) -> np.ndarray:
    """psd_sqrt(s), computed once per content (hashing 32 MB costs ~1 % of a 2048 x 2048 eigh)."""
    s = np.ascontiguousarray(s)
    key = (s.shape, s.dtype.str, hashlib.blake2b(s.data, digest_size=16).digest())
    if key not in _ROOTS:
        while len(_ROOTS) >= 2:
            del _ROOTS[next(iter(_ROOTS))]
        _ROOTS[key] = psd_sqrt(s)
        _ROOTS[key].flags.writeable = False
    return _ROOTS[key]


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> tuple[float, float]:
    """-> (real, imag) parts of Tr((sigma1 sigma2)^(1/2))."""
    r = reference_sqrt(sigma1)
    m = r @ sigma2 @ r
    lam = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(lam, 0, None)).sum()), float(np.sqrt(np.clip(-lam, 0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> tuple[float, float]:
    """-> (FID, magnitude of its imaginary residue)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {sigma1.shape} vs {sigma2.shape}")
    for name, a in (("mu1", mu1), ("sigma1", sigma1), ("mu2", mu2), ("sigma2", sigma2)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} has non-finite values")
    tr_real, tr_imag = trace_sqrt_product(sigma1, sigma2)
    if tr_imag > 0:                                        # singular product: TTUR's offset
        offset = OFFSET * np.eye(len(sigma1))
        tr_real, tr_imag = trace_sqrt_product(sigma1 + offset, sigma2 + offset)
    if tr_imag > IMAG_TOL * max(1.0, tr_real):
        raise ValueError(f"Tr((sigma1 sigma2)^(1/2)) has an imaginary part of {tr_imag:.3g} (real "
                         f"{tr_real:.6g}) even with a {OFFSET:g} diagonal offset: the statistics are not "
                         f"valid covariances (negative eigenvalues); recompute them")
    diff = mu1 - mu2
    fid = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_real
    return float(fid), 2.0 * tr_imag
