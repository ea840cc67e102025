from __future__ import annotations

from pathlib import Path

import pytest

from biggan.config.data import DatasetConfig
from tests.data import fakes


@pytest.fixture(scope="session")
def extracted(tmp_path_factory) -> Path:
    return fakes.make_extracted(tmp_path_factory.mktemp("ilsvrc_extracted"))


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> Path:
    return fakes.make_archive(tmp_path_factory.mktemp("ilsvrc_archive"))


def imagenet_config(root: Path, **kw) -> DatasetConfig:
    base = {"source": {"kind": "imagenet", "root": str(root)}, "resolution": 16,
            "shard_max_count": 4, "workers": 1, "max_skipped_fraction": 0.2}
    return DatasetConfig.model_validate({**base, **kw})


@pytest.fixture(scope="session")
def quirky_extracted(tmp_path_factory) -> Path:
    return fakes.make_extracted(tmp_path_factory.mktemp("quirky_extracted"), quirky=True)


@pytest.fixture(scope="session")
def quirky_archive(tmp_path_factory) -> Path:
    return fakes.make_archive(tmp_path_factory.mktemp("quirky_archive"), quirky=True)
