"""Run a command beside a Ray instance on this machine, so its stages pay Ray's start-up once.

    python -m biggan.train.ray_cluster [--num-cpus N] -- dvc repro

Starts a head node (`ray start --head`, no dashboard, usage stats off, session files under
RAY_TMPDIR or the system temp dir), makes its token file private, runs the command with
RAY_ADDRESS=auto (train stages join it: biggan.train.ray_trainer.ensure_ray), and stops the
node afterwards, also when the command fails or is interrupted. If RAY_ADDRESS is already
set, the command simply runs against that cluster. Exit status: the command's.

Ray 2.60 binds its gRPC servers to all interfaces (there is no loopback-only option) and
guards them with token authentication, which stays on.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path


def _ray_bin() -> str:
    here = Path(sys.executable).with_name("ray")
    return str(here) if here.exists() else (shutil.which("ray") or "ray")


def start(num_cpus: int, env: dict[str, str]) -> None:
    from biggan.train.ray_trainer import private_token

    if private_token() is None:              # `ray start` with token auth needs one; made here, 0600
        subprocess.run([_ray_bin(), "get-auth-token", "--generate"], env=env, capture_output=True, check=True)
        private_token()
    cmd = [_ray_bin(), "start", "--head", f"--num-cpus={num_cpus}", "--include-dashboard=false",
           "--disable-usage-stats", "--port=0", "--node-ip-address=127.0.0.1"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")


def stop(env: dict[str, str]) -> None:
    subprocess.run([_ray_bin(), "stop", "--force"], env=env, capture_output=True, text=True)


def run(command: list[str], num_cpus: int | None = None) -> int:
    from biggan.train.ray_trainer import RAY_TRAIN_TUNING, private_token

    # token authentication on for the node and every client of it (RAY_AUTH_MODE=token)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", **RAY_TRAIN_TUNING}
    if env.get("RAY_ADDRESS"):
        return subprocess.call(command, env=env)
    start(num_cpus or os.cpu_count() or 1, env)
    try:
        private_token()
        print(f"ray_cluster: a Ray head node with {num_cpus or os.cpu_count()} CPUs is up; running "
              f"{' '.join(command)}", flush=True)
        return subprocess.call(command, env={**env, "RAY_ADDRESS": "auto"})
    except KeyboardInterrupt:
        return 130
    finally:
        stop(env)


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
