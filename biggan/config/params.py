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
from pydantic import Field, PrivateAttr, ValidationError, field_validator

from biggan.config.base import ConfigError, Strict, deep_merge, describe
from biggan.config.data import DatasetConfig, DigitsSource, ImageNetSource, ManifestSource
from biggan.config.evaluation import EvalConfig, SweepConfig
from biggan.config.model import ModelConfig
from biggan.config.storage import StorageConfig
from biggan.config.tracking import TrackingConfig
from biggan.config.train import TrainConfig
from biggan.config.yamlfile import DuplicateKeyError, load_yaml
from biggan.paper.tables import PAPER_ROWS

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")


class Variant(Strict):
    dataset: str
    label: str | None = None                    # row label in the tables
    tables: list[Literal[1, 2, 3]] = [1]
    # published row(s) to print beside ours: "t1:b2048" or one per table ["t1:...", "t2:..."]
    paper_row: str | list[str] | None = None
    model: dict[str, Any] = {}                  # overrides of the base `model:` section
    train: dict[str, Any] = {}                  # overrides of the base `train:` section
    seeds: list[int] | None = Field(None, min_length=1)   # overrides the top-level `seeds`

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, v: list[int] | None) -> list[int] | None:
        return v if v is None else _distinct_seeds(v)

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
    storage: StorageConfig = StorageConfig()
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    variants: dict[str, Variant] = {}
    # section 4 of the paper in miniature: trained and monitored like the variants, not swept
    collapse_study: dict[str, Variant] = {}

    _resolved: dict[str, tuple[ModelConfig, TrainConfig]] = PrivateAttr(default_factory=dict)

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v: list[int]) -> list[int]:
        return _distinct_seeds(v)

    def _all_variants(self) -> dict[str, tuple[str, Variant]]:
        """name -> (its section, its entry) over `variants:` and `collapse_study:`."""
        out = {n: ("variants", v) for n, v in self.variants.items()}
        out.update({n: ("collapse_study", v) for n, v in self.collapse_study.items()})
        return out

    def check_sample_counts(self) -> list[str]:
        """IS cuts the samples into eval.is_splits parts: every sample count must cover them."""
        k = self.eval.is_splits
        if self.sweep.num_samples < k:
            return [f"sweep.num_samples: {self.sweep.num_samples} is fewer than eval.is_splits {k} "
                    f"(IS splits the samples into is_splits parts)"]
        return []

    def check_variants(self) -> list[str]:
        """Merge every variant into the base sections and validate it; returns the problems."""
        problems: list[str] = self.check_sample_counts()
        for name in list(self.datasets) + list(self.variants) + list(self.collapse_study):
            if not NAME.match(name):
                problems.append(f"{name!r}: names of datasets and variants use letters, digits and _")
        for name in set(self.variants) & set(self.collapse_study):
            problems.append(f"collapse_study.{name}: the name is also a key of variants: (runs are named by it)")
        if "collapse" in self.variants:
            problems.append("variants.collapse: the name is taken (models/collapse holds the collapse study)")
        base_model = self.model.model_dump()
        base_train = self.train.model_dump()
        for name, (section, v) in self._all_variants().items():
            where = f"{section}.{name}"
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
                problems += self._dataset_fits(name, v, model)
            if train is not None and train.evaluate and train.eval_samples < self.eval.is_splits:
                key = f"{where}.train" if "eval_samples" in v.train else "train"
                problems.append(f"{key}.eval_samples: {train.eval_samples} is fewer than eval.is_splits "
                                f"{self.eval.is_splits} (variant {name!r}; IS splits the samples into "
                                f"is_splits parts)")
            if model is not None and train is not None:
                self._resolved[name] = (model, train)
        return list(dict.fromkeys(problems))     # a base key shared by variants: reported once

    def _dataset_fits(self, name: str, v: Variant, model: ModelConfig) -> list[str]:
        """The variant's model and its dataset agree on resolution and (where known) classes."""
        ds, out = self.datasets[v.dataset], []
        if ds.resolution != model.resolution:
            key = f"variants.{name}.model" if "resolution" in v.model else "model"
            out.append(f"{key}.resolution: {model.resolution} (variant {name!r}), but its dataset's "
                       f"datasets.{v.dataset}.resolution is {ds.resolution}")
        n = known_num_classes(ds)
        if n is not None and n != model.n_classes:
            out.append(f"variants.{name}.model.n_classes: {model.n_classes}, but dataset "
                       f"{v.dataset!r} has {n} classes")
        return out

    def seeds_of(self, variant: str) -> list[int]:
        """The variant's own `seeds`, else the top-level ones."""
        entry = self._all_variants().get(variant)
        if entry is None:
            raise KeyError(f"unknown variant {variant!r}; allowed: {sorted(self._all_variants())}")
        return list(entry[1].seeds or self.seeds)

    def run(self, variant: str, seed: int) -> RunSpec:
        entry = self._all_variants().get(variant)
        if entry is None:
            raise KeyError(f"unknown variant {variant!r}; allowed: {sorted(self._all_variants())}")
        v = entry[1]
        if variant not in self._resolved:
            problems = self.check_variants()
            if problems:
                raise ConfigError(None, problems)
        model, train = self._resolved[variant]
        return RunSpec(variant, seed, v.dataset, self.datasets[v.dataset], model, train,
                       self.eval, self.sweep, self.tracking, v)

    def runs(self, section: str = "variants") -> list[RunSpec]:
        """Every (variant, seed) of `variants:` (or `collapse_study:`), in params order."""
        names = self.variants if section == "variants" else self.collapse_study
        return [self.run(v, s) for v in names for s in self.seeds_of(v)]


def _distinct_seeds(v: list[int]) -> list[int]:
    repeated = sorted({s for s in v if v.count(s) > 1})
    if repeated:
        raise ValueError(f"seeds must be distinct (each names a run and its outputs); repeated: {repeated}")
    return v


def known_num_classes(ds: DatasetConfig) -> int | None:
    """Classes of a dataset where the config alone tells; others (an ImageNet tree without
    `synsets`: whatever classes it holds) are checked against the training shards' index.json
    when the train stage starts."""
    if isinstance(ds.source, DigitsSource):
        return 10
    if isinstance(ds.source, ImageNetSource):
        return len(ds.source.synsets) if ds.source.synsets else None
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
        raw = load_yaml(path)
    except DuplicateKeyError as e:
        raise ConfigError(path, [f"{e.key_path}: duplicate key on line {e.line} (first on line "
                                 f"{e.first_line}); YAML would keep only the last one"]) from None
    except yaml.YAMLError as e:
        raise ConfigError(path, [f"not valid YAML: {e}"]) from None
    if overrides:
        raw = deep_merge(raw or {}, overrides)
    return parse_params(raw, path)
