import numpy as np
import pytest

from biggan.metrics.inception_score import inception_score, inception_score_from_probs


def openai_is(logits, splits):
    """improved-gan's formula, written out directly."""
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    n, scores = len(p), []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        kl = part * (np.log(part) - np.log(part.mean(0, keepdims=True)))
        scores.append(np.exp(kl.sum(1).mean()))
    return np.mean(scores), np.std(scores)


def test_uniform_predictions_score_one():
    m, s = inception_score(np.zeros((100, 1008)))
    assert m == pytest.approx(1.0, abs=1e-12) and s == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [2, 7, 10])
def test_one_hot_over_k_equally_used_classes_scores_k(k):
    probs = np.eye(k)[np.arange(10 * k * 3) % k]           # every split holds each class 3 times
    m, s = inception_score_from_probs(probs, splits=10)
    assert m == pytest.approx(k, rel=1e-12) and s == pytest.approx(0.0, abs=1e-9)
    lm, _ = inception_score(np.log(np.clip(probs, 1e-30, None)), splits=10)   # near one-hot logits
    assert lm == pytest.approx(k, rel=1e-6)


def test_splits_are_unshuffled_and_std_is_population():
    # splits 0-4 use 2 classes, splits 5-9 use 4: scores 2 and 4 -> mean 3, population std 1
    two = np.eye(4)[np.arange(40) % 2]
    four = np.eye(4)[np.arange(40) % 4]
    probs = np.concatenate([np.tile(two, (5, 1)), np.tile(four, (5, 1))])
    m, s = inception_score_from_probs(probs, splits=10)
    assert (m, s) == (pytest.approx(3.0), pytest.approx(1.0))
    sorted_by_class = np.eye(10)[np.repeat(np.arange(10), 8)]   # each split one class -> IS 1
    assert inception_score_from_probs(sorted_by_class)[0] == pytest.approx(1.0)


def test_matches_direct_formula_on_random_logits():
    logits = np.random.default_rng(0).normal(scale=3.0, size=(203, 50))   # N not divisible by splits
    assert inception_score(logits, 10) == pytest.approx(openai_is(logits, 10), rel=1e-12)


def test_too_few_samples_rejected():
    with pytest.raises(ValueError, match="at least 10 samples"):
        inception_score(np.zeros((9, 5)))
