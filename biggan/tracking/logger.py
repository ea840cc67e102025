"""Rank 0's MLflow writer: a background thread that batches metrics and images into a run.

The training loop only enqueues (no I/O, no `import mlflow` on its critical path); the
thread drains the queue at most every `min_interval_s` and sends all pending metrics in one
`log_batch` call (<= 1000 metrics per request, MLflow's limit), then the images.

Restarts: each batch also sets the run tag `biggan.logged_to` = the highest step sent. A
logger opened on a resumed run reads it and drops anything at or below it, so iterations
that are recomputed after resuming from an older checkpoint are logged once (first values
kept). The loop calls `flush()` before every checkpoint, so a checkpoint never exists before
its metrics are sent: resuming from it leaves no gap. Every metric keeps one value per step.
"""
from __future__ import annotations

import queue
import sys
import threading
import time

import numpy as np

LOGGED_TO = "biggan.logged_to"
MAX_METRICS_PER_BATCH = 1000
_STOP = object()


class RunLogger:
    def __init__(self, uri: str, run_id: str, min_interval_s: float = 1.0):
        self.uri, self.run_id, self.min_interval_s = uri, run_id, min_interval_s
        self.errors: list[str] = []
        self.logged_to: int | None = None          # known once the thread has read the run
        self._q: queue.Queue = queue.Queue()
        self._wake = threading.Event()             # a flush/close request cuts the gathering wait short
        self._thread = threading.Thread(target=self._main, name="mlflow-logger", daemon=True)
        self._thread.start()

    def metrics(self, step: int, values: dict[str, float]) -> None:
        self._q.put(("m", step, dict(values)))

    def image(self, step: int, key: str, image: np.ndarray) -> None:
        self._q.put(("i", step, (key, image)))

    def flush(self, timeout: float = 60.0) -> bool:
        """Block until everything queued so far is sent (or failed); False on timeout.

        The loop calls it before every checkpoint: a registered checkpoint then never
        precedes its metrics, so resuming from it leaves no gap in the logged steps."""
        done = threading.Event()
        self._q.put(done)
        self._wake.set()
        if not done.wait(timeout):
            self._warn(f"MLflow logger: flush not done within {timeout} s")
            return False
        return True

    def close(self, timeout: float = 120.0) -> None:
        self._q.put(_STOP)
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.errors.append(f"MLflow logger did not finish within {timeout} s")

    def _main(self) -> None:
        try:
            from mlflow import MlflowClient

            client = MlflowClient(self.uri)
            self.logged_to = int(client.get_run(self.run_id).data.tags.get(LOGGED_TO, -1))
        except Exception as e:                       # no client: keep draining so the loop never blocks
            self._warn(f"cannot open MLflow run {self.run_id} at {self.uri}: {e!r}")
            client = None
        stop = False
        while not stop:
            items = [self._q.get()]
            if isinstance(items[0], tuple):
                self._wake.wait(self.min_interval_s)      # gather more, unless asked to flush
            self._wake.clear()
            while True:
                try:
                    items.append(self._q.get_nowait())
                except queue.Empty:
                    break
            stop = any(it is _STOP for it in items)
            if client is not None:
                self._flush(client, [it for it in items if isinstance(it, tuple)])
            for it in items:
                if isinstance(it, threading.Event):
                    it.set()

    def _flush(self, client, items: list) -> None:
        from mlflow.entities import Metric, RunTag

        fresh = [it for it in items if it[1] > self.logged_to]
        if not fresh:
            return
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for kind, step, vals in fresh if kind == "m"
                   for k, v in vals.items() if v is not None]
        top = max(step for _, step, _ in fresh)
        try:
            for i in range(0, max(len(metrics), 1), MAX_METRICS_PER_BATCH):
                last = i + MAX_METRICS_PER_BATCH >= len(metrics)
                client.log_batch(self.run_id, metrics=metrics[i:i + MAX_METRICS_PER_BATCH],
                                 tags=[RunTag(LOGGED_TO, str(top))] if last else [])
            self.logged_to = top
            for kind, step, payload in fresh:
                if kind == "i":
                    key, image = payload
                    client.log_image(self.run_id, image, key=key, step=step)
        except Exception as e:
            self._warn(f"MLflow logging failed (steps up to {top} lost): {e!r}")

    def _warn(self, msg: str) -> None:
        self.errors.append(msg)
        print(f"warning: {msg}", file=sys.stderr, flush=True)
