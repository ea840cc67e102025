"""Run a command beside a Ray instance on this machine, so its stages pay Ray's start-up once.

    python -m biggan.train.ray_cluster [--num-cpus N] -- dvc repro

Starts a head node (`ray start --head --block` as a child of this process: no dashboard,
usage stats off, session files under RAY_TMPDIR or the system temp dir), makes its token file
private, runs the command with RAY_ADDRESS set to it (train stages join it:
biggan.parallel.ray_session.ensure_ray), and stops the node afterwards, also when the command
fails or is interrupted. The command also gets RAY_SINGLE_NODE=1 (stages that would spread
work over a cluster's nodes, such as the sweep, keep it on this machine without asking Ray).
Ray's worker processes are not reaped through this process, so `/usr/bin/time` on it
undercounts their CPU time: measure the machine's (BENCHMARKS.md). If RAY_ADDRESS is already
set, the command simply runs against that cluster. Exit status: the command's.

Ray 2.60 binds its gRPC servers to all interfaces (there is no loopback-only option) and
guards them with token authentication, which stays on.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def _ray_bin() -> str:
    here = Path(sys.executable).with_name("ray")
    return str(here) if here.exists() else (shutil.which("ray") or "ray")


def start(num_cpus: int, env: dict[str, str], timeout: float = 180,
          extra_args: list[str] = ()) -> tuple[subprocess.Popen, str]:
    """`ray start --head --block [extra_args]` in a session of its own; -> (its process, the node's
    address) once it is up. The command gets that address, not "auto": another Ray node on the machine
    (a test session's, a user's) must not be the one it joins."""
    from biggan.parallel.ray_session import private_token

    if private_token() is None:              # `ray start` with token auth needs one; made here, 0600
        subprocess.run([_ray_bin(), "get-auth-token", "--generate"], env=env, capture_output=True, check=True)
        private_token()
    cmd = [_ray_bin(), "start", "--head", "--block", f"--num-cpus={num_cpus}", "--include-dashboard=false",
           "--disable-usage-stats", "--port=0", *extra_args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:                 # up, then the address to join it ("--address='ip:port'")
        lines.append(line)
        if re.search(r"--address='[^']+'", line) or time.monotonic() > deadline:
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()   # keep draining
    if proc.poll() is not None or not any("Ray runtime started" in x for x in lines):
        stop(proc)
        raise RuntimeError(f"`{' '.join(cmd)}` did not start:\n{''.join(lines)[-3000:]}")
    found = re.search(r"--address='([^']+)'", "".join(lines))
    if found is None:
        stop(proc)
        raise RuntimeError(f"`ray start` did not print the node's address:\n{''.join(lines)[-3000:]}")
    return proc, found.group(1)


def stop(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM to `ray start --block`, which starts stopping the node's processes; after `grace_s`
    SIGKILL to whatever is left in its process group (measured: a node whose actors have run
    takes ~30 s to wind down by itself, with nothing left to save once the command is done).
    Never `ray stop`: that would stop every Ray node on the machine."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait(30)


def forget(address: str) -> None:
    """Remove Ray's "current cluster" file if it still names this (stopped) node: a killed head
    leaves it behind, and `ray status` or a bare `ray.init()` would then try to join a dead node."""
    from ray._common.utils import get_ray_address_file

    path = Path(get_ray_address_file(None))
    try:
        if path.read_text().strip() == address:
            path.unlink()
    except OSError:
        pass


def run(command: list[str], num_cpus: int | None = None) -> int:
    from biggan.parallel.ray_session import RAY_TRAIN_TUNING, SINGLE_NODE, private_token

    # token authentication on for the node and every client of it (RAY_AUTH_MODE=token)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", **RAY_TRAIN_TUNING}
    if env.get("RAY_ADDRESS"):
        return subprocess.call(command, env=env)
    node, address = start(num_cpus or os.cpu_count() or 1, env)
    try:
        private_token()
        print(f"ray_cluster: a Ray head node with {num_cpus or os.cpu_count()} CPUs is up; running "
              f"{' '.join(command)}", flush=True)
        return subprocess.call(command, env={**env, "RAY_ADDRESS": address, SINGLE_NODE: "1"})
    except KeyboardInterrupt:
        return 130
    finally:
        stop(node)
        forget(address)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m biggan.train.ray_cluster", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs Ray may schedule (default: all cores)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    a = p.parse_args(argv)
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not command:
        p.error("no command given (e.g. -- dvc repro)")
    return run(command, a.num_cpus)


if __name__ == "__main__":
    sys.exit(main())
