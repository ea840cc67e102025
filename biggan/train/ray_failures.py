"""Ray Train's failure decision for errors a restart cannot fix.

Ray Train 2.60 (Train V2) restarts the whole worker group on any worker error until
`FailureConfig(max_failures)` is spent: a corrupt shard cost three starts and a page of
repeated tracebacks. Its controller asks a `FailurePolicy` what to do the moment a poll finds
a worker error; `InputErrorsRaise` answers RAISE, without retrying and without the controller's
log of the decision, when any rank's error is a biggan.train.errors.InputError, and leaves every
other error (a lost worker, a preemption, transient I/O) to Ray's DefaultFailurePolicy.

The controller is an actor: this class is pickled by reference, so it lives in an importable
module, and Ray's internals are imported only here (only where a run goes through Ray).
"""
from __future__ import annotations

from ray.train.v2._internal.execution.failure_handling import DefaultFailurePolicy, FailureDecision

from biggan.train.errors import InputError


def input_error(error: BaseException) -> InputError | None:
    """The lowest rank's InputError of a WorkerGroupError, else None."""
    failures = getattr(error, "worker_failures", None) or {}
    return next((e for _, e in sorted(failures.items()) if isinstance(e, InputError)), None)


class InputErrorsRaise(DefaultFailurePolicy):
    def make_decision(self, training_failed_error) -> FailureDecision:
        if input_error(training_failed_error) is not None:
            return FailureDecision.RAISE
        return super().make_decision(training_failed_error)
