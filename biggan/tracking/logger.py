"""Rank 0's MLflow writer on MLflow's own asynchronous batched logging.

    metrics(t, values)  one `MlflowClient.log_batch(..., synchronous=False)`: MLflow splits it
                        into requests of <= 1000 metrics, queues them, merges queued batches
                        and sends them from its own thread; the loop never waits. The returned
                        RunOperations is kept, with its metrics, until it has completed. A
                        failed batch is sent again whole: the store keeps an identical
                        (key, step, timestamp, value) once, so its parts that did arrive are
                        not doubled.
    image(t, key, img)  kept until the next flush, then `log_image(key=, step=)`.
    flush()             waits for every pending batch (the loop calls it before each
                        checkpoint); a failed batch or image (store down) is kept and sent
                        again at the next flush or at close, never dropped.
    close()             a last flush; what still could not be sent is reported in `errors`.

Restarts: a resumed attempt recomputes the steps between its checkpoint and the kill, and
some of them may have reached MLflow before the kill. The logger reads, per metric key, the
highest step the run already holds (`get_metric_history`, only for keys the run has) and
drops values at or below it, so every (metric, step) is logged once (first value kept).
Until that read succeeds (store down at start) everything is held, and the read is retried
at each flush: logging is never switched off.

How long a send to an unreachable server may take is MLflow's HTTP retry policy; `quick_http`
(biggan.tracking.mlflow_run) sets it for the training process so a flush fails in seconds,
not in MLflow's default ~2 minutes of retries.
"""
from __future__ import annotations

import sys
import time

import numpy as np


class RunLogger:
    def __init__(self, uri: str, run_id: str):
        from mlflow import MlflowClient

        from biggan.tracking.mlflow_run import move_credentials, quick_http, redact

        quick_http()
        uri = move_credentials(uri)
        self.uri, self.run_id, self._shown = uri, run_id, redact(uri)
        self.errors: list[str] = []
        self._client = MlflowClient(uri)         # no I/O until the first request
        self._pending: list[tuple[object | None, list]] = []   # (RunOperations or None = not sent, metrics)
        self._images: list[tuple[int, str, np.ndarray, bool]] = []    # (step, key, image, tried before)
        self._failing = False                    # one warning per outage, not one per batch
        self._floor: dict[str, int] | None = None  # per key: highest step the run held at start
        self._held: list = []                    # metrics waiting for the floor
        self._read_floor()

    def metrics(self, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        ms = [Metric(k, float(v), now, step) for k, v in values.items() if v is not None]
        if self._floor is None:
            self._held.extend(ms)
            return
        self._send(ms)

    def image(self, step: int, key: str, image: np.ndarray) -> None:
        self._images.append((step, key, image, False))

    def flush(self) -> bool:
        """Re-send what failed before, wait for every pending batch, send kept images; True when
        nothing is left unsent."""
        if self._floor is None and not self._read_floor():
            return False
        pending, self._pending = self._pending, []
        for ops, ms in pending:                  # batches that failed at an earlier flush: sent again
            if ops is None:
                self._submit(ms)
            else:
                self._pending.append((ops, ms))
        self._settle()
        kept, retried = [], set()
        if any(tried for *_, tried in self._images):
            retried = self._logged_images()
        for step, key, img, tried in self._images:
            if tried and (key, step) in retried:     # a failure after the PNG arrived (e.g. at the tag)
                continue
            try:
                self._client.log_image(self.run_id, img, key=key, step=step, synchronous=True)
            except Exception as e:
                self._failed(f"image {key!r} of step {step}", e)
                kept.append((step, key, img, True))
        self._images = kept
        ok = not self._pending and not self._images
        if ok and self._failing:
            self._failing = False
            print(f"MLflow logging to {self._shown} recovered: every kept value is logged", file=sys.stderr,
                  flush=True)
        return ok

    def close(self) -> None:
        if not self.flush():
            self.errors.append(f"not logged to MLflow run {self.run_id} at {self._shown}: {self.unsent()}")

    def unsent(self) -> str:
        held = [m for _, ms in self._pending for m in ms] + self._held
        steps = sorted({m.step for m in held} | {im[0] for im in self._images})
        span = f" (steps {steps[0]}..{steps[-1]})" if steps else ""
        return f"{len(held)} metric values and {len(self._images)} images{span}"

    def _send(self, ms: list) -> None:
        ms = [m for m in ms if m.step > self._floor.get(m.key, -1)]
        if ms:
            self._submit(ms)

    def _read_floor(self) -> bool:
        try:
            keys = self._client.get_run(self.run_id).data.metrics
            self._floor = {k: max(m.step for m in self._client.get_metric_history(self.run_id, k)) for k in keys}
        except Exception as e:
            self._failed("reading the run", e)
            return False
        held, self._held = self._held, []
        self._send(held)
        return True

    def _logged_images(self) -> set[tuple[str, int]]:
        """(key, step) of the images the run holds (MLflow names them images/<key>+step+<t>+...)."""
        try:
            paths = [a.path.rsplit("/", 1)[-1] for a in self._client.list_artifacts(self.run_id, "images")]
        except Exception:
            return set()
        return {(p.split("+step+")[0].replace("~", "/"), int(p.split("+step+")[1].split("+")[0]))
                for p in paths if "+step+" in p and p.endswith(".png")}

    def _submit(self, ms: list) -> None:
        try:
            ops = self._client.log_batch(self.run_id, metrics=ms, synchronous=False)
        except Exception as e:                   # e.g. the async queue could not start
            self._failed(f"{len(ms)} metric values", e)
            ops = None
        self._pending.append((ops, ms))

    def _settle(self) -> None:
        """Wait for the submitted batches; the failed ones stay pending as unsent (None)."""
        left = []
        for ops, ms in self._pending:
            if ops is not None:
                try:
                    ops.wait()
                    continue
                except Exception as e:
                    self._failed(f"{len(ms)} metric values of steps {ms[0].step}..{ms[-1].step}", e)
            left.append((None, ms))
        self._pending = left

    def _failed(self, what: str, e: Exception) -> None:
        if not self._failing:
            self._failing = True
            self._warn(f"MLflow logging to {self._shown} failed ({what}: {type(e).__name__}); kept and "
                       f"retried at the next flush")

    def _warn(self, msg: str) -> None:
        from biggan.tracking.mlflow_run import redact_text

        msg = redact_text(msg, self.uri)
        self.errors.append(msg)
        print(f"warning: {msg}", file=sys.stderr, flush=True)
