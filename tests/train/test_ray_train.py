"""Ray Train end to end: the stage on the session's local Ray, surviving a SIGKILLed worker
(and resuming a run whose driver gave up), and joining a `ray start --head` cluster."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.conftest import REPO_ROOT, ray_test_env
from tests.train.fakes import DigitsStream, TinyScorer
from tests.train.specs import BASE, RES, tiny_spec

pytestmark = pytest.mark.slow


def test_stage_trains_every_seed_at_once_on_ray_from_real_shards(tmp_path, ray_local, monkeypatch):
    from mlflow import MlflowClient

    from biggan.config import load_params
    from biggan.data.shard.build import build_shards
    from stages.train import main

    raw = {**BASE, "datasets": {"d16": {**BASE["datasets"]["d16"], "workers": 1}},
           "train": {**BASE["train"], "launcher": "ray", "num_workers": 2, "iterations": 20, "r1_gamma": 1.0}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    params = load_params(tmp_path / "params.yaml")
    build_shards(params.datasets["d16"], "train", tmp_path / "data/shards/d16/train", name="d16", progress=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    seen = ActorWatch()
    seen.start()
    try:
        assert main(["--params", "params.yaml", "--variant", "tiny", "--seed", "3", "--seed", "4"]) == 0
    finally:
        seen.done.set()
    # one controller and worker processes per run, no placement-group cleaner and no Ray Data
    # DatasetManager (ray_trainer._lean)
    assert "TrainController" in seen.names and "RayTrainWorker" in seen.names, seen.names
    assert "PlacementGroupCleaner" not in seen.names and "DatasetManager" not in seen.names, seen.names

    for seed in (3, 4):
        s = json.loads((tmp_path / f"metrics/train/tiny/s{seed}.json").read_text())
        assert s["launcher"] == "ray" and s["num_workers"] == 2 and s["iterations_done"] == s["stable_to"] == 20
        assert s["model_selection"] == "final" and s["images_per_s"] > 0
        assert (tmp_path / f"models/tiny/s{seed}/G_ema.pt").is_file()
        losses = (tmp_path / f"metrics/train/tiny/s{seed}.losses.csv").read_text().splitlines()
        assert [int(r.split(",")[0]) for r in losses[1:]] == [5, 10, 15, 20]
    scores = json.loads((tmp_path / "metrics/scores/train/tiny.json").read_text())
    assert scores["itr"] == 20 and scores["collapsed"] == 0
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")     # tracking.uri default, repo-relative
    runs = client.search_runs([client.get_experiment_by_name("biggan").experiment_id])
    assert sorted(r.data.tags["seed"] for r in runs) == ["3", "4"]
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.tags["launcher"] == "ray"
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "d_loss")) == [5, 10, 15, 20]


class ActorWatch(threading.Thread):
    """The Ray actor classes whose processes ("ray::<Class>...") run under this session, sampled."""

    def __init__(self):
        super().__init__(daemon=True)
        self.names: set[str] = set()
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            for p in psutil.Process(os.getpid()).children(recursive=True):
                try:
                    title = " ".join(p.cmdline())
                except psutil.Error:
                    continue
                if title.startswith("ray::"):
                    self.names.add(title[5:].split(".")[0].split(" ")[0])
            time.sleep(0.2)


def ray_workers_of_this_session() -> list[psutil.Process]:
    out = []
    for p in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if "RayTrainWorker" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:
            pass
    return out


class Killer(threading.Thread):
    """SIGKILL one Ray Train worker as soon as Ray has registered a checkpoint of attempt
    `restart` (ckpt_*_r<restart> in the run's checkpoint_manager_snapshot.json)."""

    def __init__(self, run_dir: Path, restart: int):
        super().__init__(daemon=True)
        self.run_dir, self.restart = run_dir, restart
        self.killed: int | None = None
        self.done = threading.Event()

    def registered(self) -> bool:
        try:
            snap = json.loads((self.run_dir / "checkpoint_manager_snapshot.json").read_text())
        except (OSError, ValueError):
            return False
        latest = snap.get("latest_checkpoint_result") or {}
        return str(latest.get("checkpoint_dir_name", "")).endswith(f"_r{self.restart}")

    def run(self):
        deadline = time.time() + 240
        while time.time() < deadline and not self.done.is_set():
            if self.registered():
                workers = ray_workers_of_this_session()
                if workers:
                    self.killed = workers[0].pid
                    os.kill(self.killed, signal.SIGKILL)
                return
            time.sleep(0.05)


def test_killed_worker_is_survived_and_a_failed_run_resumes(tmp_path, ray_local):
    from mlflow import MlflowClient
    from ray.train import TrainingFailedError

    from biggan.train.run import run_name, train

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    common = {"launcher": "ray", "num_workers": 2, "iterations": 80, "checkpoint_every": 10,
              "evaluate": True, "eval_every": 40, "eval_samples": 100}
    spec0 = tiny_spec(uri=uri, train={**common, "max_failures": 0})
    spec1 = tiny_spec(uri=uri, train={**common, "max_failures": 1})
    run_dir = tmp_path / "store" / run_name(spec1)
    assert run_name(spec0) == run_name(spec1)              # max_failures is operational: same run
    kw = dict(root=tmp_path, storage=tmp_path / "store", data=DigitsStream(RES, 8), scorer=TinyScorer(RES))

    first = Killer(run_dir, restart=0)
    first.start()
    with pytest.raises(TrainingFailedError):
        train(spec0, **kw)                                  # no failures allowed: the driver gives up
    first.done.set()
    assert first.killed is not None

    second = Killer(run_dir, restart=1)
    second.start()
    out = train(spec1, **kw)                                # resumes, survives a second kill
    second.done.set()
    assert second.killed is not None
    s = out.summary
    assert s["iterations_done"] == s["stable_to"] == 80 and len(s["resumes"]) == 2
    assert s["resumes"][0] >= 10 and s["resumes"][1] > s["resumes"][0]
    assert [r["iteration"] for r in out.history.losses] == list(range(5, 81, 5))     # no gaps, no repeats
    assert [r["iteration"] for r in out.history.evals] == [40, 80]
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("biggan").experiment_id])
    assert run.info.run_id == s["mlflow_run_id"] and run.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "g_loss")]
    assert sorted(steps) == list(range(5, 81, 5))         # each step once despite recomputed iterations
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "fid")) == [40, 80]
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "d_acc_val")) == [40, 80]   # rank 0's
    assert run.data.metrics["fid_best"] == pytest.approx(s["fid_best"])


DRIVER = """
import json, sys
from biggan.train.run import train
from tests.train.fakes import DigitsStream
from tests.train.specs import RES, tiny_spec
spec = tiny_spec(uri=sys.argv[2], train={"launcher": "ray", "num_workers": 2, "iterations": 10})
out = train(spec, root=sys.argv[1], storage=sys.argv[1] + "/store", data=DigitsStream(RES, 8))
print("SUMMARY " + json.dumps(out.summary))
"""


@pytest.fixture
def ray_head(free_port):
    """A Ray cluster started like a user would (`ray start --head --block`), in its own process
    group so that the group -- and nothing else -- is stopped afterwards."""
    temp_dir = f"/tmp/ray_h{os.getpid()}"
    env = {**os.environ, **ray_test_env(), "RAY_TMPDIR": temp_dir}
    env.pop("RAY_ADDRESS", None)
    ray_bin = str(Path(sys.executable).with_name("ray"))
    proc = subprocess.Popen([ray_bin, "start", "--head", "--block", "--port", str(free_port), "--num-cpus", "2",
                             "--temp-dir", temp_dir, "--include-dashboard", "false", "--disable-usage-stats",
                             "--node-ip-address", "127.0.0.1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    deadline = time.time() + 120
    for line in proc.stdout:
        lines.append(line)
        if "Ray runtime started" in line or time.time() > deadline:
            break
    threading.Thread(target=lambda: [lines.append(x) for x in proc.stdout], daemon=True).start()
    try:
        assert "Ray runtime started" in "".join(lines), "".join(lines)
        yield f"127.0.0.1:{free_port}", env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        time.sleep(1)
        leftovers = [p for p in psutil.process_iter(["pid", "cmdline"])
                     if temp_dir in " ".join(p.info["cmdline"] or [])]
        for p in leftovers:
            p.kill()
        subprocess.run(["rm", "-rf", temp_dir])
        assert not leftovers, f"processes outlived the cluster: {[p.pid for p in leftovers]}"


def test_joins_a_cluster_through_ray_address(tmp_path, ray_head):
    address, env = ray_head
    env = {**env, "RAY_ADDRESS": address, "RAY_AUTH_MODE": "token"}   # token auth: 2.60's default
    env.pop("MLFLOW_TRACKING_URI", None)
    r = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path), f"sqlite:///{tmp_path / 'm.db'}"],
                       env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "Connected to Ray cluster" in r.stderr + r.stdout and "Started a local Ray instance" not in r.stderr
    (line,) = [x for x in r.stdout.splitlines() if x.startswith("SUMMARY ")]
    s = json.loads(line[len("SUMMARY "):])
    assert s["launcher"] == "ray" and s["iterations_done"] == 10 and s["num_workers"] == 2
