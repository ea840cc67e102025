"""Time a command (the default `make repro`) and how many cores the machine kept busy meanwhile.

    python -m benchmarks.bench_repro [--out FILE.json] -- make repro

Reports wall time, the command's own rusage (user+sys of the processes it waited for: what
`/usr/bin/time -v` prints) and the machine's busy cores from /proc/stat (user+nice+system+irq+
softirq over wall time). They differ under Ray: its workers are children of the raylet of a
`ray start` node and are not reaped through the command, so only /proc/stat sees their CPU
time. Run it on an otherwise quiet machine: /proc/stat counts every process.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq = fields[:7]
    steal = fields[7] if len(fields) > 7 else 0
    busy = user + nice + system + irq + softirq
    return busy, busy + idle + iowait + steal


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_repro", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", help="also write the figures as JSON here")
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not command:
        p.error("no command given (e.g. -- make repro)")
    hz = os.sysconf("SC_CLK_TCK")
    busy0, _ = cpu_ticks()
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    rc = subprocess.call(command)
    wall = time.monotonic() - t0
    busy1, _ = cpu_ticks()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    doc = {"command": " ".join(command), "exit_status": rc, "cpu": cpu_model(), "cores": os.cpu_count(),
           "wall_s": round(wall, 1), "command_user_sys_s": round(ru.ru_utime + ru.ru_stime, 1),
           "command_cores_busy": round((ru.ru_utime + ru.ru_stime) / wall, 2),
           "machine_cores_busy": round((busy1 - busy0) / hz / wall, 2), "load_average_before": round(load0, 2),
           "peak_rss_mb_of_a_waited_child": round(ru.ru_maxrss / 1024, 1)}
    print(json.dumps(doc, indent=2))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(doc, f, indent=2)
    return rc


if __name__ == "__main__":
    sys.exit(main())
