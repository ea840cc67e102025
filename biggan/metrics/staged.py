"""Evaluation inputs on the storage root, for workers on any node of a cluster (biggan.storage).

`on_store` copies what scoring reads (the feature net's folder or Inception weights, the VGG-16
weights of precision/recall where used, and the dataset's reference statistics) under <root>/inputs/<md5>/ and returns the eval config naming
those URLs; `local` on a worker fetches them to its node's disk once per content and returns
the config naming the local copies. A config with local paths passes through `local` unchanged.
"""
from __future__ import annotations

from pathlib import Path

from biggan import storage
from biggan.config.evaluation import EvalConfig


def on_store(cfg: EvalConfig, dataset: str, root: str) -> EvalConfig:
    # <refstats_dir>/<dataset>/ is copied whole; refstats_dir becomes its parent URL
    update = {"refstats_dir": storage.put_input(Path(cfg.refstats_dir) / dataset, root).rsplit("/", 1)[0]}
    if cfg.feature_net == "digits":
        update["digits_net"] = cfg.digits_net.model_copy(
            update={"out_dir": storage.put_input(cfg.digits_net.out_dir, root)})
    else:
        update["inception_weights"] = storage.put_input(cfg.inception_weights, root)
    if cfg.pr_features == "vgg16":
        update["vgg16_weights"] = storage.put_input(cfg.vgg16_weights, root)
    return cfg.model_copy(update=update)


def local(cfg: EvalConfig, dataset: str) -> EvalConfig:
    if not storage.is_url(cfg.refstats_dir):
        return cfg
    update = {"refstats_dir": str(storage.local_copy(storage.join(cfg.refstats_dir, dataset)).parent)}
    if cfg.feature_net == "digits":
        update["digits_net"] = cfg.digits_net.model_copy(
            update={"out_dir": str(storage.local_copy(cfg.digits_net.out_dir))})
    else:
        update["inception_weights"] = str(storage.local_copy(cfg.inception_weights))
    if cfg.pr_features == "vgg16":
        update["vgg16_weights"] = str(storage.local_copy(cfg.vgg16_weights))
    return cfg.model_copy(update=update)
