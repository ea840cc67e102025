import torch

from biggan.losses import d_hinge, g_hinge


def test_hinge_values():
    d_real = torch.tensor([2.0, 0.5, -1.0])      # relu(1 - x): 0, 0.5, 2
    d_fake = torch.tensor([-2.0, 0.0, 1.0])      # relu(1 + x): 0, 1, 2
    real, fake = d_hinge(d_real, d_fake)
    assert torch.isclose(real, torch.tensor(2.5 / 3)) and torch.isclose(fake, torch.tensor(1.0))
    assert torch.isclose(g_hinge(d_fake), torch.tensor(1.0 / 3))


def test_hinge_gradients_vanish_beyond_margin():
    d_real = torch.tensor([1.5], requires_grad=True)
    d_fake = torch.tensor([-1.5], requires_grad=True)
    sum(d_hinge(d_real, d_fake)).backward()
    assert d_real.grad.item() == 0 and d_fake.grad.item() == 0
