import pytest
import torch

from biggan.sampling.truncation import truncated_normal


@pytest.mark.parametrize("t", [2.0, 1.0, 0.5, 0.04])
def test_values_inside_threshold_and_distribution(t):
    g = torch.Generator().manual_seed(0)
    z = truncated_normal((4000, 32), t, g)
    assert z.abs().max() <= t
    # resampling beyond |t| gives N(0,1) conditioned on |z| <= t: compare the variance
    normal = torch.distributions.Normal(0.0, 1.0)
    a = torch.tensor(t)
    pdf, mass = normal.log_prob(a).exp(), 2 * normal.cdf(a) - 1
    expected_var = 1 - 2 * a * pdf / mass
    assert z.var().item() == pytest.approx(expected_var.item(), rel=0.05)


def test_no_truncation_and_zero_threshold():
    g = torch.Generator().manual_seed(0)
    assert truncated_normal((1000, 8), None, g).abs().max() > 2
    assert torch.count_nonzero(truncated_normal((10, 8), 0.0, g)) == 0
    with pytest.raises(ValueError):
        truncated_normal((2, 2), -1.0, g)

