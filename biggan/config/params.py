"""The root of params.yaml and the resolved configuration of one training run.

params.yaml holds base `model:` and `train:` sections and a `variants:` map; each variant
names its dataset and overrides any base keys (a Table 1 row, a Table 2 resolution, a
Table 3 JFT-style run). Every variant is merged and validated at load time, so a bad
override fails before any work with its full path, e.g. `variants.t1_full.model.dim_z`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, PrivateAttr, ValidationError

from biggan.config.base import ConfigError, Strict, deep_merge, describe
from biggan.config.data import DatasetConfig, DigitsSource, ManifestSource
from biggan.config.evaluation import EvalConfig, SweepConfig
from biggan.config.model import ModelConfig
from biggan.config.tracking import TrackingConfig
from biggan.config.train import TrainConfig
from biggan.report.paper import PAPER_ROWS

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")


class Variant(Strict):
    dataset: str
    label: str | None = None                    # row label in the tables
    tables: list[Literal[1, 2, 3]] = [1]
    # published row(s) to print beside ours: "t1:b2048" or one per table ["t1:...", "t2:..."]
    paper_row: str | list[str] | None = None
    model: dict[str, Any] = {}                  # overrides of the base `model:` section
    train: dict[str, Any] = {}                  # overrides of the base `train:` section

    @property
    def paper_rows(self) -> list[str]:
        return [] if self.paper_row is None else [self.paper_row] if isinstance(self.paper_row, str) \
            else list(self.paper_row)

    def paper_row_for(self, table: int) -> str | None:
        """The published row of Table `table` this variant stands beside (by its 't<table>:' prefix)."""
        return next((r for r in self.paper_rows if r.startswith(f"t{table}:")), None)


@dataclass(frozen=True)
class RunSpec:
    """Everything one (variant, seed) training run needs, fully resolved."""

    variant: str
    seed: int
    dataset_name: str
    dataset: DatasetConfig
    model: ModelConfig
    train: TrainConfig
    eval: EvalConfig
    sweep: SweepConfig
    tracking: TrackingConfig
    info: Variant

    @property
    def run_name(self) -> str:
        return f"{self.variant}-s{self.seed}"


class Params(Strict):
    datasets: dict[str, DatasetConfig] = {}
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    sweep: SweepConfig = SweepConfig()
    tracking: TrackingConfig = TrackingConfig()
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    variants: dict[str, Variant] = {}

    _resolved: dict[str, tuple[ModelConfig, TrainConfig]] = PrivateAttr(default_factory=dict)

    def check_variants(self) -> list[str]:
        """Merge every variant into the base sections and validate it; returns the problems."""
        problems: list[str] = []
        for name in list(self.datasets) + list(self.variants):
            if not NAME.match(name):
                problems.append(f"{name!r}: names of datasets and variants use letters, digits and _")
        base_model = self.model.model_dump()
        base_train = self.train.model_dump()
        for name, v in self.variants.items():
            where = f"variants.{name}"
            for row in v.paper_rows:
                if row not in PAPER_ROWS:
                    problems.append(f"{where}.paper_row: unknown published row {row!r}; "
                                    f"allowed: {sorted(PAPER_ROWS)}")
            if v.dataset not in self.datasets:
                problems.append(f"{where}.dataset: unknown dataset {v.dataset!r}; "
                                f"allowed: {sorted(self.datasets)}")
            try:
                model = ModelConfig.model_validate(deep_merge(base_model, v.model))
            except ValidationError as e:
                problems += describe(e, f"{where}.model")
                model = None
            try:
                train = TrainConfig.model_validate(deep_merge(base_train, v.train))
            except ValidationError as e:
                problems += describe(e, f"{where}.train")
                train = None
            if model is not None and v.dataset in self.datasets:
                n = known_num_classes(self.datasets[v.dataset])
                if n is not None and n != model.n_classes:
                    problems.append(f"{where}.model.n_classes: {model.n_classes}, but dataset "
                                    f"{v.dataset!r} has {n} classes")
            if model is not None and train is not None:
                self._resolved[name] = (model, train)
        return problems

    def run(self, variant: str, seed: int) -> RunSpec:
        if variant not in self.variants:
            raise KeyError(f"unknown variant {variant!r}; allowed: {sorted(self.variants)}")
        v = self.variants[variant]
        if variant not in self._resolved:
            problems = self.check_variants()
            if problems:
                raise ConfigError(None, problems)
        model, train = self._resolved[variant]
        return RunSpec(variant, seed, v.dataset, self.datasets[v.dataset], model, train,
                       self.eval, self.sweep, self.tracking, v)

    def runs(self) -> list[RunSpec]:
        return [self.run(v, s) for v in self.variants for s in self.seeds]


def known_num_classes(ds: DatasetConfig) -> int | None:
    if isinstance(ds.source, DigitsSource):
        return 10
    if isinstance(ds.source, ManifestSource) and ds.source.top_k_labels:
        return ds.source.top_k_labels
    return None


def parse_params(raw: Any, source: str | Path | None = None) -> Params:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, [f"<root>: expected a mapping of sections, got {type(raw).__name__}"])
    try:
        params = Params.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(source, describe(e)) from None
    problems = params.check_variants()
    if problems:
        raise ConfigError(source, problems)
    return params


def load_params(path: str | Path = "params.yaml", overrides: dict[str, Any] | None = None) -> Params:
    """Read and validate a params file; `overrides` (nested dict) are merged on top."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, [f"file not found: {path.resolve()}"])
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(path, [f"not valid YAML: {e}"]) from None
    if overrides:
        raw = deep_merge(raw or {}, overrides)
    return parse_params(raw, path)
