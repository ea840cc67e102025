import numpy as np
import pytest

from biggan.metrics.precision_recall import knn_radii, precision_recall

import torch


def modes(rng, centres, n_per, scale=0.05):
    return np.concatenate([c + scale * rng.normal(size=(n_per, len(c))) for c in centres]).astype(np.float32)


CENTRES = 10.0 * np.eye(8)[:6]        # 6 well-separated modes in 8-d


def test_knn_radius_is_kth_neighbour_excluding_self():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    # 2nd-nearest other point: 0 -> 3, 1 -> 3, 3 -> 0, 7 -> 1 (distances 3, 2, 3, 6)
    assert knn_radii(x, 2, chunk=3).tolist() == [9.0, 4.0, 9.0, 36.0]


def test_identical_sets_have_full_precision_and_recall():
    x = modes(np.random.default_rng(0), CENTRES, 50)
    assert precision_recall(x, x.copy(), k=3) == (1.0, 1.0)


def test_same_distribution_scores_high_and_grows_with_k():
    rng = np.random.default_rng(1)
    real, fake = modes(rng, CENTRES, 200), modes(rng, CENTRES, 200)
    p3, r3 = precision_recall(real, fake, k=3)
    p10, r10 = precision_recall(real, fake, k=10)
    assert 0.8 < p3 < p10 and 0.8 < r3 < r10
    assert p10 > 0.93 and r10 > 0.93


def test_disjoint_sets_score_zero():
    rng = np.random.default_rng(2)
    assert precision_recall(modes(rng, CENTRES[:3], 50), modes(rng, CENTRES[3:], 50), k=3) == (0.0, 0.0)


def test_fake_covering_half_the_modes():
    rng = np.random.default_rng(3)
    real = modes(rng, CENTRES, 60)
    fake = modes(rng, CENTRES[:3], 120)     # same size, all of it on half the modes
    p, r = precision_recall(real, fake, k=10, chunk=50)
    assert p > 0.9
    assert r == pytest.approx(0.5, abs=0.05)


def test_shape_mismatch_and_too_few_points():
    with pytest.raises(ValueError, match="do not match"):
        precision_recall(np.zeros((10, 3), np.float32), np.zeros((10, 4), np.float32))
    with pytest.raises(ValueError, match="need more than 3 points"):
        precision_recall(np.zeros((3, 2), np.float32), np.zeros((3, 2), np.float32), k=3)
