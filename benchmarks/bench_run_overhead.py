"""Fixed cost of one Ray Train run (issue 29): what a run costs beyond its training loop.

    python -m benchmarks.bench_run_overhead [--runs 4] [--iterations 5] [--workers 1,2]
                                            [--label NAME] [--out benchmarks/results/run_overhead]

K tiny runs (bench_scaling's 16 px digits model, eval off, MLflow on SQLite) launched as the
train stage launches them: `biggan.train.run.train_seeds` on one local Ray instance (started
first, not counted: a stage pays it once), all K at once (`--jobs`, default K). --workers
cycles the runs' worker counts (default 1,2: the default pipeline has both). Per run:

  to_first_iteration_s  fit() called -> the train function's first batch (rank 0)
  fit_minus_loop_s      Ray Train's fit() wall minus the loop's own wall (loop_wall_s)
  process_start_s       fit() called -> rank 0's worker process created (/proc/<pid>/stat)
  in_worker_s           worker process created -> the loop asks for its data stream
                        (imports, Ray Train's worker set-up, process group, model)
  stream_to_first_s     data stream -> first batch (MLflow RunLogger, spectra, first batch)
  worker_cpu_s          rank 0's process CPU when its first batch is asked for

and for the batch: machine CPU-seconds (/proc/stat, every process: Ray's workers are not
children of this one) per run, minus the loops' own CPU (process CPU from first to last batch,
scaled to the whole loop). `mlflow_in_worker` times, in a fresh process that has imported
what a worker has by then (torch, biggan's loop), what the rank 0 worker does to start MLflow:
`import mlflow` and `RunLogger(uri, run_id)` against the benchmark's store.

Results: <out>-<label>.json and .md. Run it on an otherwise quiet machine (/proc/stat counts
every process); each invocation uses a fresh work folder, so nothing is reused.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.bench_repro import cpu_model, cpu_ticks
from benchmarks.bench_scaling import TINY, build_shards, params_doc


def _proc_start_wall(pid: int) -> float:
    """Wall-clock time (epoch seconds) at which process `pid` was created."""
    with open(f"/proc/{pid}/stat") as f:
        start_jiffies = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/stat") as f:
        btime = next(int(line.split()[1]) for line in f if line.startswith("btime"))
    return btime + start_jiffies / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Stamped:
    """A data factory that records, in <out>/<name>.r<rank>.json, when (wall clock) and at what
    process CPU the loop asked for its stream and for its first and last batch."""

    inner: object
    out: str
    name: str

    @property
    def shard_dir(self):                       # as the run sees its ShardStream (MLflow dataset, reuse)
        return self.inner.shard_dir

    def __call__(self, rank: int, world_size: int, seed: int):
        doc = {"pid": os.getpid(), "process_start": _proc_start_wall(os.getpid()),
               "stream": time.time(), "stream_cpu": time.process_time(), "batches": 0}
        return self._stamped(self.inner(rank, world_size, seed), doc, Path(self.out) / f"{self.name}.r{rank}.json")

    @staticmethod
    def _stamped(stream, doc: dict, path: Path):
        for batch in stream:
            now, cpu = time.time(), time.process_time()
            if not doc["batches"]:
                doc.update(first=now, first_cpu=cpu)
            doc.update(last=now, last_cpu=cpu, batches=doc["batches"] + 1)
            path.write_text(json.dumps(doc))
            yield batch


class ProcessCPU:
    """CPU-seconds per kind of process (the driver, Ray's controller and worker actors, its
    daemons), sampled from /proc every `every` s: actors exit with their run, so the last sample
    of each pid is what it used (less its final < `every` s)."""

    def __init__(self, every: float = 0.25):
        import threading

        self.every, self.seen, self.base, self.cmds = every, {}, {}, {}
        self._stop = threading.Event()
        self.base = self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> dict[int, tuple[str, float]]:
        hz, out = os.sysconf("SC_CLK_TCK"), {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmd.strip() or int(pid) not in self.cmds:       # an exiting process has no cmdline
                self.cmds[int(pid)] = cmd
            out[int(pid)] = (self.kind(int(pid), self.cmds[int(pid)]), (int(fields[11]) + int(fields[12])) / hz)
        return out

    @staticmethod
    def kind(pid: int, cmd: str) -> str:
        if pid == os.getpid():
            return "driver"
        for name in ("TrainController", "RayTrainWorker", "IDLE", "raylet", "gcs_server", "dashboard",
                     "log_monitor", "runtime_env", "monitor.py"):
            if name in cmd:
                return name
        return "ray other" if "ray" in cmd else "other"

    def _run(self):
        while not self._stop.wait(self.every):
            self.seen.update(self._sample())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.seen.update(self._sample())

    def by_kind(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid, (kind, cpu) in self.seen.items():
            before = self.base.get(pid, (kind, 0.0))[1]
            out[kind] = out.get(kind, 0.0) + cpu - before
        return {k: round(v, 1) for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v >= 0.05}

    def top(self, kind: str, n: int = 5) -> list:
        rows = [(round(cpu - self.base.get(pid, (k, 0.0))[1], 1), pid, self.cmds.get(pid, "")[:120])
                for pid, (k, cpu) in self.seen.items() if k == kind]
        return sorted(rows, reverse=True)[:n]


def timed_fit(stamps: dict):
    """ray_trainer.fit, recording when each run's fit() was called and returned."""
    from biggan.train import ray_trainer

    real = ray_trainer.fit

    def fit(job, local, run_name, **kw):
        t0 = time.time()
        try:
            return real(job, local, run_name, **kw)
        finally:
            stamps[f"{job.variant}-s{job.seed}"] = (t0, time.time())

    return fit


def batch(work: Path, runs: int, iterations: int, workers: list[int], jobs: int) -> dict:
    from unittest import mock

    from biggan.config import parse_params
    from biggan.parallel.ray_session import ensure_ray
    from biggan.train import ray_trainer
    from biggan.train.run import default_data, train_seeds

    variants = {f"w{w}": {"dataset": "digits", "train": {"num_workers": w}} for w in sorted(set(workers))}
    doc = params_doc(16, TINY, {"batch_size": 16, "iterations": iterations, "threads_per_worker": 1,
                                "launcher": "ray", "log_every": iterations}, variants)
    params = parse_params(doc)
    specs = [params.run(f"w{workers[i % len(workers)]}", i) for i in range(runs)]
    stamps_dir = work / "stamps"
    stamps_dir.mkdir()
    data = {s.run_name: Stamped(default_data(s, work / "data/shards"), str(stamps_dir), s.run_name) for s in specs}
    ensure_ray()                               # a stage starts Ray once: not part of a run's cost
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    fits: dict[str, tuple[float, float]] = {}
    hz = os.sysconf("SC_CLK_TCK")
    busy0, _ = cpu_ticks()
    t0 = time.monotonic()
    with mock.patch.object(ray_trainer, "fit", timed_fit(fits)), ProcessCPU() as procs:
        outcomes = train_seeds(specs, root=work, storage=work / "checkpoints/train", data=lambda s: data[s.run_name],
                               tracking=True, stage="bench", log=lambda m: None, jobs=jobs)
    wall = time.monotonic() - t0
    busy1, _ = cpu_ticks()
    bad = [o for o in outcomes if isinstance(o, BaseException)]
    if bad:
        raise bad[0]
    rows, loop_cpu = [], 0.0
    for spec, out in zip(specs, outcomes):
        ranks = [json.loads((stamps_dir / f"{spec.run_name}.r{r}.json").read_text())
                 for r in range(spec.train.num_workers)]
        for r in ranks:                        # first -> last batch spans batches - 1 of them
            loop_cpu += (r["last_cpu"] - r["first_cpu"]) * r["batches"] / max(1, r["batches"] - 1)
        r0, (called, _) = ranks[0], fits[spec.run_name]
        s = out.summary
        rows.append({"run": spec.run_name, "workers": spec.train.num_workers,
                     "to_first_iteration_s": round(r0["first"] - called, 2),
                     "fit_minus_loop_s": round(s["timing"]["fit_s"] - s["loop_wall_s"], 2),
                     "process_start_s": round(r0["process_start"] - called, 2),
                     "in_worker_s": round(r0["stream"] - r0["process_start"], 2),
                     "stream_to_first_s": round(r0["first"] - r0["stream"], 2),
                     "worker_cpu_at_stream_s": round(r0["stream_cpu"], 2), "worker_cpu_s": round(r0["first_cpu"], 2),
                     "fit_s": s["timing"]["fit_s"], "loop_wall_s": s["loop_wall_s"], "total_s": s["timing"]["total_s"]})
        print(json.dumps(rows[-1]), flush=True)
    machine_cpu = (busy1 - busy0) / hz
    return {"runs": rows, "batch_wall_s": round(wall, 1), "machine_cpu_s": round(machine_cpu, 1),
            "loop_cpu_s": round(loop_cpu, 2), "cpu_by_process_s": procs.by_kind(),
            "top_other": procs.top("other"), "top_ray_other": procs.top("ray other"), "top_worker": procs.top("RayTrainWorker", 8),
            "cpu_per_run_minus_loop_s": round((machine_cpu - loop_cpu) / runs, 2)}


MLFLOW_PROBE = """
import json, sys, time
import torch, biggan.train.loop                 # what a worker imported before its loop starts
w0, c0 = time.perf_counter(), time.process_time()
import mlflow
from biggan.tracking.logger import RunLogger
w1, c1 = time.perf_counter(), time.process_time()
RunLogger(sys.argv[1], sys.argv[2]).close()
w2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"import_wall_s": w1 - w0, "import_cpu_s": c1 - c0, "start_wall_s": w2 - w1, "start_cpu_s": c2 - c1}))
"""


def mlflow_in_worker(work: Path, repeats: int) -> dict:
    """MLflow's start in a rank 0 worker (see MLFLOW_PROBE), median of `repeats` fresh processes."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{work / 'mlflow.db'}"
    run = MlflowClient(uri).search_runs([e.experiment_id for e in MlflowClient(uri).search_experiments()],
                                        max_results=1)[0]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    docs = [json.loads(subprocess.run([sys.executable, "-c", MLFLOW_PROBE, uri, run.info.run_id], env=env,
                                      check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            for _ in range(repeats)]
    return {k: round(statistics.median(d[k] for d in docs), 2) for k in docs[0]}


def medians(rows: list[dict]) -> dict:
    keys = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and k != "workers"]
    return {k: round(statistics.median(r[k] for r in rows), 2) for k in keys}


def markdown(result: dict) -> str:
    m, b = result["median"], result["batch"]
    lines = [f"# Per-run fixed cost ({result['label']})", "",
             f"{result['machine']['cpu']}, {result['machine']['cores']} cores; {result['args']['runs']} runs at once "
             f"({result['args']['iterations']} iterations, workers {result['args']['workers']}); "
             f"load average before {result['machine']['load_avg_start'][0]:.2f}", "",
             "| run | workers | fit -> 1st iteration s | fit - loop s | fit -> worker process s | in worker s "
             "| stream -> 1st batch s | worker CPU s |", "|---|---|---|---|---|---|---|---|"]
    for r in b["runs"]:
        lines.append(f"| {r['run']} | {r['workers']} | {r['to_first_iteration_s']} | {r['fit_minus_loop_s']} | "
                     f"{r['process_start_s']} | {r['in_worker_s']} | {r['stream_to_first_s']} | {r['worker_cpu_s']} |")
    mw = result["mlflow_in_worker"]
    lines += ["", f"Median: fit -> first iteration {m['to_first_iteration_s']} s, fit - loop {m['fit_minus_loop_s']} s. "
              f"Machine CPU {b['machine_cpu_s']} s over {b['batch_wall_s']} s; per run minus the loops' CPU: "
              f"**{b['cpu_per_run_minus_loop_s']} CPU-s**.",
              f"MLflow in a worker: import {mw['import_wall_s']} s wall ({mw['import_cpu_s']} CPU-s), "
              f"RunLogger start {mw['start_wall_s']} s ({mw['start_cpu_s']} CPU-s).",
              f"Machine CPU by process kind (s): {b['cpu_by_process_s']}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_run_overhead", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=4)
    p.add_argument("--iterations", type=int, default=5)
    p.add_argument("--workers", default="1,2", help="worker counts, cycled over the runs (default 1,2)")
    p.add_argument("--jobs", type=int, help="runs at once (default: all of them)")
    p.add_argument("--mlflow-repeats", type=int, default=3)
    p.add_argument("--label", default="run")
    p.add_argument("--out", default="benchmarks/results/run_overhead")
    a = p.parse_args(argv)
    workers = [int(w) for w in a.workers.split(",")]
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["RAY_TMPDIR"] = ray_tmp = f"/tmp/ray_o{os.getpid()}"    # short: unix socket paths
    result = {"label": a.label, "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
                                            "load_avg_start": os.getloadavg()}, "args": vars(a)}
    with tempfile.TemporaryDirectory(prefix="bench_overhead_") as d:
        work = Path(d)
        build_shards(work, 16)
        try:
            result["batch"] = batch(work, a.runs, a.iterations, workers, a.jobs or a.runs)
        finally:
            from biggan.parallel.ray_session import release_ray
            release_ray()
        result["median"] = medians(result["batch"]["runs"])
        result["mlflow_in_worker"] = mlflow_in_worker(work, a.mlflow_repeats)
    shutil.rmtree(ray_tmp, ignore_errors=True)
    result["machine"]["load_avg_end"] = os.getloadavg()
    text = markdown(result)
    print(text)
    out = Path(f"{a.out}-{a.label}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    out.with_suffix(".md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
