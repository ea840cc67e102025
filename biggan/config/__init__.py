"""Typed, validated configuration mirroring params.yaml (one section per concern)."""
from biggan.config.base import ConfigError
from biggan.config.data import DatasetConfig
from biggan.config.evaluation import EvalConfig, SweepConfig
from biggan.config.model import ModelConfig
from biggan.config.params import Params, RunSpec, Variant, load_params, parse_params
from biggan.config.tracking import TrackingConfig
from biggan.config.train import TrainConfig

__all__ = [
    "ConfigError", "DatasetConfig", "EvalConfig", "ModelConfig", "Params", "RunSpec",
    "SweepConfig", "TrackingConfig", "TrainConfig", "Variant", "load_params", "parse_params",
]
