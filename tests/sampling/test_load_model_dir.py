"""A model folder loads without initialising weights that the file overwrites."""
import pytest
import torch

from biggan.models import init as model_init
from biggan.sampling.load import load_model_dir
from tests.sampling.conftest import tiny_generator, write_model_dir


def test_loaded_generator_is_the_saved_one_and_skips_the_init(tmp_path, monkeypatch):
    d = write_model_dir(tmp_path / "tiny" / "s0", seed=3)
    inits = []
    real = model_init.init.orthogonal_
    monkeypatch.setattr(model_init.init, "orthogonal_", lambda w: inits.append(w.shape) or real(w))
    G, doc = load_model_dir(d)
    assert inits == [] and doc["variant"] == "tiny"
    tensors = dict(G.named_parameters()) | dict(G.named_buffers())
    assert not any(t.is_meta for t in tensors.values())
    saved = torch.load(d / "G_ema.pt", weights_only=True)
    assert set(saved) == set(G.state_dict())
    assert all(torch.equal(G.state_dict()[k], v) for k, v in saved.items())
    assert not G.training and not any(p.requires_grad for p in G.parameters())
    ref, _ = tiny_generator(seed=4)                       # initialised, then the file loaded into it
    ref.load_state_dict(saved)
    z, y = torch.randn(4, ref.dim_z), torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        assert torch.equal(G(z, y), ref(z, y))


def test_a_file_missing_a_tensor_is_refused(tmp_path):
    d = write_model_dir(tmp_path / "tiny" / "s0")
    state = torch.load(d / "G_ema.pt", weights_only=True)
    missing = next(iter(state))
    torch.save({k: v for k, v in state.items() if k != missing}, d / "G_ema.pt")
    with pytest.raises(RuntimeError, match=missing):
        load_model_dir(d)
