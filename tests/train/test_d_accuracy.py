"""D's accuracy on fixed training and held-out images (train.d_accuracy_images): recorded at every
evaluation, read from the run's own shards, and without any effect on training."""
from dataclasses import dataclass

import pytest
import torch

from biggan.models import build_discriminator
from biggan.train.monitoring import DAccuracy
from biggan.train.run import train
from tests.train.fakes import DigitsStream, TinyScorer
from tests.train.specs import RES, tiny_spec

TIMING = ("step_time", "images_per_s")


@dataclass(frozen=True)
class TrainOnly(DigitsStream):
    """A dataset without a val split."""

    def images(self, split: str, n: int):
        return super().images(split, n) if split == "train" else None


def _run(tmp_path, name: str, data, **train_kw):
    spec = tiny_spec(train={"iterations": 20, "eval_every": 10, "evaluate": True, **train_kw})
    return train(spec, root=tmp_path, storage=tmp_path / name, data=data, scorer=TinyScorer(RES), tracking=False)


def _untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def test_d_in_eval_mode_keeps_its_spectral_norm_vectors_and_draws_no_random_numbers():
    D = build_discriminator(tiny_spec().model)
    data = DigitsStream(RES, 16)
    acc = DAccuracy({"train": data.images("train", 40), "val": data.images("val", 40)}, 16, torch.device("cpu"))
    before = {k: v.clone() for k, v in D.state_dict().items()}
    rng = torch.get_rng_state()
    out = acc(D)
    assert set(out) == {"d_acc_train", "d_acc_val"} and all(0 <= v <= 1 for v in out.values())
    assert out["d_acc_train"] * 40 == int(out["d_acc_train"] * 40)        # a fraction of the 40 images
    assert D.training and torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(before[k], v) for k, v in D.state_dict().items())
    x, y = data.images("train", 8)
    with torch.no_grad():                  # the same forward in train mode does move them
        D(x, y)
    assert not torch.equal(before["blocks.0.0.conv1.sn_u"], D.state_dict()["blocks.0.0.conv1.sn_u"])


def test_a_runs_evals_carry_d_accuracy_and_training_is_the_same_with_it_off(tmp_path):
    on = _run(tmp_path, "on", DigitsStream(RES, 16), d_accuracy_images=64)
    off = _run(tmp_path, "off", DigitsStream(RES, 16), d_accuracy_images=0)
    assert [r["iteration"] for r in on.history.evals] == [10, 20]
    for r in on.history.evals:
        assert 0 <= r["d_acc_train"] <= 1 and 0 <= r["d_acc_val"] <= 1
    assert not any(k.startswith("d_acc") for r in off.history.evals for k in r)
    assert _untimed(on.history.losses) == _untimed(off.history.losses)
    assert on.history.sigma0 == off.history.sigma0
    assert [{k: v for k, v in r.items() if not k.startswith("d_acc")} for r in on.history.evals] == off.history.evals
    assert all(torch.equal(v, off.g_ema_state[k]) for k, v in on.g_ema_state.items())


def test_a_dataset_without_a_val_split_records_the_training_accuracy_alone(tmp_path):
    out = _run(tmp_path, "train_only", TrainOnly(RES, 16), iterations=10)
    (row,) = out.history.evals
    assert 0 <= row["d_acc_train"] <= 1 and "d_acc_val" not in row


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """A 36-image training split and its val split, written by the shard stage's code."""
    from biggan.config.data import DatasetConfig
    from biggan.data.shard.build import build_shards

    root = tmp_path_factory.mktemp("shards")
    ds = DatasetConfig.model_validate({"source": {"kind": "digits", "train_images": 36}, "resolution": RES})
    for split in ("train", "val"):
        build_shards(ds, split, root / "d36" / split, name="d36", progress=False)
    return root / "d36"


def test_shard_stream_reads_the_first_images_of_its_own_splits(shards, tmp_path):
    import shutil

    from biggan.data.loader import make_train_stream
    from biggan.train.factories import ShardStream

    stream = ShardStream(str(shards / "train"), 4, "d36")
    assert stream.val_dir == str(shards / "val")
    x, y = stream.images("train", 256)
    assert x.shape == (36, 3, RES, RES) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(stream.images("train", 10)[0], x[:10])             # fixed: the first ones
    fed = next(make_train_stream(stream.shard_dir, 36, seed=0))[0]        # the images training sees
    assert {t.numpy().tobytes() for t in fed} <= {t.numpy().tobytes() for t in x}
    xv, _ = stream.images("val", 50)
    assert xv.shape[0] == 50 and not {t.numpy().tobytes() for t in xv} & {t.numpy().tobytes() for t in x}

    stored = stream.on_store(str(tmp_path / "store"))                     # both splits go to the store
    assert stored.val_dir.startswith(str(tmp_path / "store")) and stored.val_dir != stream.val_dir
    assert torch.equal(stored.images("val", 50)[0], xv) and torch.equal(stored.images("train", 256)[0], x)

    shutil.copytree(shards / "train", tmp_path / "alone" / "train")
    alone = ShardStream(str(tmp_path / "alone" / "train"), 4, "d36")
    assert alone.val_dir is None and alone.images("val", 50) is None
    assert alone.on_store(str(tmp_path / "store")).val_dir is None
