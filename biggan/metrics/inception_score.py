"""Inception Score (Salimans et al. 2016) as openai/improved-gan computes it.

IS = exp(E_x KL(p(y|x) || p(y))), p(y) the mean of p(y|x) over the split. The N samples are
cut, in order and unshuffled, into `splits` parts [i N // splits, (i + 1) N // splits); the
result is the mean and the population std (ddof=0) of the per-split scores. Softmax over all
logits (for the FID Inception: all 1008, no fc bias), in float64.
"""
from __future__ import annotations

import numpy as np


def _split_scores(p: np.ndarray, log_p: np.ndarray, splits: int) -> tuple[float, float]:
    n = len(p)
    if n < splits:
        raise ValueError(f"IS with {splits} splits needs at least {splits} samples, got {n}")
    scores = []
    for i in range(splits):
        sl = slice(i * n // splits, (i + 1) * n // splits)
        part, log_part = p[sl], log_p[sl]
        with np.errstate(divide="ignore", invalid="ignore"):      # p = 0 terms are dropped (0 log 0 = 0)
            log_py = np.log(part.mean(axis=0))
            kl = np.where(part > 0, part * (log_part - log_py), 0.0).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """(N, K) logits -> (IS mean, IS std over splits)."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return _split_scores(np.exp(log_p), log_p, splits)


def inception_score_from_probs(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """(N, K) class probabilities (rows sum to 1, zeros allowed) -> (IS mean, IS std)."""
    p = np.asarray(probs, np.float64)
    with np.errstate(divide="ignore"):
        log_p = np.log(p)
    return _split_scores(p, log_p, splits)
