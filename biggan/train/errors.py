"""Errors that retrying cannot fix: an input file or setting a run cannot use.

They are raised where the problem shows (the data stream, the scorer, the model build), in the
driver or inside a Ray Train worker. Ray Train then ends the run at once instead of restarting
its workers (biggan.train.ray_failures), the runs of the pool that read the same input are not
started (biggan.train.run.train_seeds), and the train stage reports each in one line, exit status 2.

Everything a worker raises crosses a process boundary, so an InputError is plain strings.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path


class InputError(Exception):
    """`message` names the file or key and what is wrong with it; `fix` the command or edit that
    repairs it; `shared` identifies the input for the other runs of the pool (a path, or a key of
    `classes_key`/`model_key`): a run that reads it is not started."""

    def __init__(self, message: str, fix: str, shared: str | None = None):
        message, fix = " ".join(message.split()), " ".join(fix.split())    # one line each
        super().__init__(message, fix, shared)
        self.message, self.fix, self.shared = message, fix, shared

    def __str__(self) -> str:
        return f"{self.message}; fix: {self.fix}"


class NotStarted(InputError):
    """A run of the pool left out because another run found an input of it unusable."""

    @classmethod
    def because(cls, failed_run: str, bad: InputError) -> "NotStarted":
        return cls(f"not started: it reads what {failed_run} found unusable: {bad.message}", bad.fix, bad.shared)


def shard_fix(dataset: str) -> str:
    return f"rerun the shard stage: `dvc repro -f shard@{dataset}`" if dataset else "rerun the shard stage"


def bad_shards(e: Exception, shard_dir: str, dataset: str) -> InputError:
    """A corrupt or missing shard (biggan.data.loader's CorruptShardError names the file)."""
    return InputError(f"training shards of dataset {dataset!r}: {e}", shard_fix(dataset), shard_dir)


def transient(e: BaseException) -> bool:
    """An I/O error a retry may not meet again (not a missing or refused file)."""
    cause = e.__cause__ or e
    return isinstance(cause, OSError) and not isinstance(cause, (FileNotFoundError, IsADirectoryError,
                                                                 NotADirectoryError, PermissionError))


def classes_key(shard_dir: str, n_classes: int) -> str:
    return f"{shard_dir} read by a model of {n_classes} classes"


def model_key(model_doc: dict) -> str:
    return "model " + hashlib.sha256(json.dumps(model_doc, sort_keys=True).encode()).hexdigest()[:12]


def bad_model(e: Exception, variant: str, model_doc: dict) -> InputError:
    return InputError(f"model: of variant {variant!r} cannot be built: {type(e).__name__}: {e}",
                      "correct the variant's model: keys in the params file (`python -m biggan summary --params "
                      "FILE` builds every model without training)", model_key(model_doc))


def missing_eval_inputs(missing: list[Path], net: Path, dataset: str) -> InputError:
    """The feature network or the reference statistics of `dataset` are not there."""
    stages = ["feature_net" if p == net else f"ref_stats@{dataset}" for p in missing]
    return InputError(f"train.evaluate is on but {', '.join(map(str, missing))} is missing",
                      f"run the {' and '.join(s.split('@')[0] for s in stages)} stage{'s' * (len(stages) > 1)} first: "
                      f"`dvc repro {' '.join(stages)}`, or set train.evaluate: false", str(missing[0]))
