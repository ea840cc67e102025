"""Session-wide fixtures shared by every test package.

ray_local  (session scope) ONE real local Ray instance for the whole test session, started
           lazily by the first test that asks for it and shut down when the session ends.
           Use it in any test that needs Ray (Ray Train, Ray Data, prefect-ray ...):

               @pytest.mark.slow
               def test_something(ray_local):
                   ...  # ray.is_initialized() is True; don't call ray.init/ray.shutdown

           What it sets up (and why):
             * 2 logical CPUs more than the machine's cores: a 2-worker TorchTrainer
               takes 1 CPU per worker, the extra slots keep small tasks/actors schedulable
               next to it (the cores are shared anyway; Ray does not pin them). Code that
               sizes itself from the cluster sees these logical CPUs: pin thread counts
               in tests (e.g. train.threads_per_worker: 1);
             * RAY_TMPDIR / temp dir /tmp/ray_t<pid>: Ray's unix socket paths must stay
               under ~107 bytes, pytest's tmp_path is too long;
             * no dashboard, usage stats off, and Ray Train's lighter start-up settings
               (biggan.parallel.ray_session.RAY_TRAIN_TUNING): start-up time on a 2-core box;
             * PYTHONPATH gets the repo root, so Ray worker processes (which inherit this
               process's environment) can unpickle helpers defined under tests/.
           Yields a `RayInfo` (address, temp_dir, num_cpus).

free_port  a free TCP port on 127.0.0.1 (for servers and process groups started by tests).
"""
from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class RayInfo:
    address: str
    temp_dir: str
    num_cpus: int


def ray_test_env() -> dict[str, str]:
    """Environment additions every Ray process started by tests needs."""
    path = os.environ.get("PYTHONPATH", "")
    parts = [str(REPO_ROOT)] + ([path] if path else [])
    return {"RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": os.pathsep.join(dict.fromkeys(parts))}


@pytest.fixture(scope="session")
def ray_local():
    import ray

    if ray.is_initialized():
        raise RuntimeError("ray_local: Ray was already initialised by something else in this session")
    from biggan.parallel.ray_session import RAY_TRAIN_TUNING

    temp_dir = f"/tmp/ray_t{os.getpid()}"
    env = {**ray_test_env(), **RAY_TRAIN_TUNING, "RAY_TMPDIR": temp_dir}
    saved = {k: os.environ.get(k) for k in (*env, "RAY_ADDRESS")}
    os.environ.update(env)
    os.environ.pop("RAY_ADDRESS", None)            # a local instance, whatever the caller's shell says
    num_cpus = (os.cpu_count() or 1) + 2
    ctx = ray.init(num_cpus=num_cpus, include_dashboard=False, _temp_dir=temp_dir,
                   logging_level="WARNING", configure_logging=True)
    try:
        yield RayInfo(ctx.address_info.get("address", ""), temp_dir, num_cpus)
    finally:
        ray.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# `make test` runs the suite on 2 pytest-xdist workers: most of its time is spent waiting on servers
# and subprocesses, not computing. The scheduler below sends a group of tests whole to one worker, so a
# shared fixture is built once: the packages in SHARED_SESSION_DIRS share session fixtures across their
# files (the Prefect harness and tiny repo, the trained digits net, the source archives); every other
# file is its own group, keeping its module fixtures built once too. (xdist's `--dist loadgroup` cannot
# do this with pytest 9: the group suffix it writes into `item._nodeid` is ignored there.)
SHARED_SESSION_DIRS = {"pipelines", "metrics", "data", "cluster"}


def xdist_group_of(nodeid: str) -> str:
    """tests/<dir>/... -> 'tests/<dir>' for the shared packages, else the test file."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    return "/".join(parts[:2]) if len(parts) > 2 and parts[1] in SHARED_SESSION_DIRS else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group_of(nodeid)

    return GroupScheduling(config, log)
