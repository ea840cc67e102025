"""Evaluation inputs on the storage root, for workers on any node of a cluster (biggan.storage).

`on_store` copies what scoring reads (the feature net's folder or Inception weights, the VGG-16
weights of precision/recall where used, and the dataset's reference statistics) under
<root>/inputs/<md5>/ and returns the eval config naming those URLs; `local` on a worker fetches
them to its node's disk once per content and returns the config naming the local copies. A
config with local paths passes through `local` unchanged.
"""
from __future__ import annotations

from typing import Callable

from biggan import storage
from biggan.config.evaluation import EvalConfig


def _moved(cfg: EvalConfig, dataset: str, move: Callable[[str], str]) -> EvalConfig:
    """The config with every input scoring reads replaced by `move(its path or URL)`."""
    # <refstats_dir>/<dataset>/ moves whole; refstats_dir becomes the new location's parent
    update = {"refstats_dir": move(storage.join(str(cfg.refstats_dir), dataset)).rsplit("/", 1)[0]}
    if cfg.feature_net == "digits":
        update["digits_net"] = cfg.digits_net.model_copy(update={"out_dir": move(cfg.digits_net.out_dir)})
    else:
        update["inception_weights"] = move(cfg.inception_weights)
    if cfg.pr_features == "vgg16":
        update["vgg16_weights"] = move(cfg.vgg16_weights)
    return cfg.model_copy(update=update)


def on_store(cfg: EvalConfig, dataset: str, root: str) -> EvalConfig:
    return _moved(cfg, dataset, lambda path: storage.put_input(path, root))


def local(cfg: EvalConfig, dataset: str) -> EvalConfig:
    if not storage.is_url(cfg.refstats_dir):
        return cfg
    return _moved(cfg, dataset, lambda url: str(storage.local_copy(url)))
