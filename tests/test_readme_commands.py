"""Every command README.md (and docs/*.md) shows in ```bash blocks, run in order on a tiny copy
of this repository, as a user pastes them: each block in a fresh `bash -e` in the copy's root,
without the venv on PATH. The blocks are read when the test runs, so a command added to README
is run too.

How a command runs comes from HANDLING below; a command no entry matches fails
`test_every_readme_command_is_handled` (cheap, in the default run) until it gets one. Most run
as written. The exceptions, and why:
- `make repro` runs for real, on the tiny params file (a few minutes on 2 cores): its outputs
  are what the later commands inspect. The copy's params.yaml keeps README's names (the variant
  `t1_b16_ch6_ortho`, the registered model) so that their commands run unchanged.
- `make test` is a dry run (`make -n test`): the suite would run itself.
- A block that copies a preset over params.yaml (`cp configs/...`) runs as written, except its
  `dvc repro`, which becomes `dvc status`: DVC resolves every stage with the preset's params,
  but training needs ImageNet and the block's path edits (tests/test_presets_repro.py follows
  those steps on a tiny ImageNet tree). params.yaml is restored after the block.
- `dvc exp run` gets `--queue`: DVC applies `-S` to params.yaml exactly as a run does and
  stores the experiment, without training 800-1,500 iterations (minutes even on the tiny
  profile). `--dry` cannot stand in: DVC runs a dry experiment in a temporary copy without the
  pipeline's outputs, where it fails. The queued experiments' params files must validate.
- Servers: the Prefect server and worker lines start detached as written (README's fixed port
  swapped for a free one on 127.0.0.1) and README's own stop block stops them (SIGINT to the
  worker until it exits, then the server): both must be gone after it; a foreground server (`python -m biggan ui`) is started in
  the background on a free port, checked on /health and stopped. No process may be left behind.

After `make repro` the copy's outputs are committed, as a clone of this repository has its
dvc.lock and small outputs committed. The tiny copy has its own params.yaml, so README's
experiment commands are also queued against the project's own params.yaml (seconds: nothing runs).
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from biggan.config import load_params
from tests.pipeline_repo import REPO_ROOT, dvc_env, git, make_tiny_repo, tiny_params

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
README_PORTS = {"prefect": 4200}
BLOCK_TIMEOUT_S = 600


@dataclass(frozen=True)
class Handling:
    pattern: str          # re.fullmatch against the command (comments stripped)
    how: str              # run | dry | queue | repro | preset | detached | server
    why: str = ""


HANDLING = [
    Handling(r"make repro", "run", "on the tiny params file"),
    Handling(r"make test", "dry", "`make -n test`: the suite would run itself"),
    Handling(r"make rehearse-cluster", "dry", "`make -n`: the suite runs tests/cluster itself"),
    Handling(r"\.venv/bin/dvc (status|metrics show|plots show|exp show)( [^;&|]*)?", "run"),
    Handling(r"\.venv/bin/dvc repro( [^;&|]*)?", "repro", "after a preset: `dvc status` (see above)"),
    Handling(r"cp configs/[\w.-]+\.yaml params\.yaml", "preset", "params.yaml restored after the block"),
    Handling(r"\.venv/bin/dvc exp run [^;&|]*", "queue", "queued with DVC's -S rewrite; not trained"),
    Handling(r"\.venv/bin/python -m biggan (summary|sample)( [^;&|]*)?", "run"),
    Handling(r"\.venv/bin/python -m biggan ui( [^;&|]*)?", "server", "MLflow UI, foreground"),
    Handling(r"\.venv/bin/python -m pipelines\.(reproduce|retrain)", "run", "temporary Prefect server inside"),
    Handling(r"export( \w+=\S+)+", "run"),
    Handling(r"mkdir -p \S+", "run"),
    Handling(r"setsid nohup sh -c 'echo \$\$ > \.prefect/(server|worker)\.pid; exec \.venv/bin/prefect "
             r"(server|worker) start [^']*' > \S+ 2>&1 < /dev/null &", "detached", "stopped at the end"),
    Handling(r"until curl -sf \S+ > /dev/null; do sleep 1; done", "run"),
    Handling(r"while kill -INT \$\(cat \.prefect/worker\.pid\) 2> /dev/null; do sleep \d+; done", "run",
             "README's stop: SIGINT until the worker exits"),
    Handling(r"kill \$\(cat \.prefect/server\.pid\)", "run"),
    Handling(r"\.venv/bin/prefect (work-pool create|--no-prompt deploy|deployment run|deployment ls)( [^;&|]*)?"
             r"(; tail \S+)?", "run"),
]


def strip_comment(line: str) -> str:
    """The line without its shell comment (a `#` at the start or after a blank, outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def bash_blocks(path: Path) -> list[list[str]]:
    """The commands of each ```bash block of a markdown file, in order (continuations joined)."""
    blocks = []
    for body in re.findall(r"^```bash\n(.*?)^```", path.read_text(encoding="utf-8"), re.M | re.S):
        cmds, pending = [], ""
        for line in body.splitlines():
            code = strip_comment(line).strip()
            if code.endswith("\\"):
                pending += code[:-1].rstrip() + " "
                continue
            code, pending = (pending + code).strip(), ""
            if code:
                cmds.append(code)
        blocks.append(cmds)
    return blocks


def handling(cmd: str) -> Handling | None:
    found = [h for h in HANDLING if re.fullmatch(h.pattern, cmd)]
    return found[0] if found else None


def all_blocks() -> list[tuple[str, list[str]]]:
    return [(f"{doc.name} block {i + 1}", block) for doc in DOCS for i, block in enumerate(bash_blocks(doc))]


def test_every_readme_command_is_handled():
    blocks = all_blocks()
    assert blocks, "README.md shows no ```bash block"
    unknown = [f"{where}: {cmd}" for where, block in blocks for cmd in block if handling(cmd) is None]
    assert not unknown, "commands with no entry in HANDLING (tests/test_readme_commands.py):\n" + "\n".join(unknown)


def test_strip_comment_and_continuations(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("text\n```bash\na --x 'b # c'   # note\n# only a comment\nd \\\n  e  # f\n```\n"
                   "```python\nnot = 'bash'\n```\n")
    assert bash_blocks(doc) == [["a --x 'b # c'", "d e"]]


# ----------------------------------------------------------------------------------------------
# Running them

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readme_params() -> dict:
    """The tiny profile under README's names: its commands name this variant and registered model."""
    p = tiny_params()
    full = p["variants"].pop("full")
    full["train"] = {"iterations": p["train"]["iterations"]}   # README sets this key without '+'
    p["variants"] = {"t1_b16_ch6_ortho": full, **p["variants"]}
    p["tracking"]["registered_model"] = "biggan-digits-generator"
    return p


def shell_line(cmd: str, how: str, ports: dict[str, int], preset: bool = False) -> str:
    for name, port in README_PORTS.items():
        if name in ports:
            cmd = cmd.replace(f"127.0.0.1:{port}", f"127.0.0.1:{ports[name]}").replace(f"--port {port}",
                                                                                      f"--port {ports[name]}")
    if how == "dry":
        return re.sub(r"^make ", "make -n ", cmd)
    if how == "queue":
        return cmd.replace("dvc exp run ", "dvc exp run --queue ", 1)
    if how == "repro" and preset:
        return cmd.replace("dvc repro", "dvc status", 1)
    if how == "server":       # background on a free port; up on /health; stopped
        port = free_port()
        return (f"setsid {cmd} --port {port} > readme_server.log 2>&1 < /dev/null & srv=$!\n"
                f"for i in $(seq 180); do curl -sf http://127.0.0.1:{port}/health > /dev/null && break; "
                f"kill -0 $srv || {{ cat readme_server.log; exit 1; }}; sleep 1; done\n"
                f"curl -sf http://127.0.0.1:{port}/health > /dev/null\n"
                f"kill -TERM -- -$srv; wait $srv || true")
    return cmd


def run_block(repo: Path, cmds: list[str], env: dict, ports: dict[str, int]) -> subprocess.CompletedProcess:
    lines = ["set -e"]
    preset = any(handling(c).how == "preset" for c in cmds)
    for i, cmd in enumerate(cmds):
        lines += [f"echo '@@readme {i}' >&2", shell_line(cmd, handling(cmd).how, ports, preset)]
    proc = subprocess.Popen(["bash", "-c", "\n".join(lines)], cwd=repo, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=BLOCK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        proc.returncode = -9
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


def failed_command(cmds: list[str], output: str) -> str:
    started = re.findall(r"^@@readme (\d+)$", output, re.M)
    return cmds[int(started[-1])] if started else "(before the first command)"


def processes_in(repo: Path) -> list[int]:
    """Pids of processes whose working directory is in `repo` (what the commands left running)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cwd = Path(os.readlink(entry / "cwd"))
            except OSError:
                continue
            if cwd == repo or repo in cwd.parents:
                found.append(int(entry.name))
    return found


def stop_detached(repo: Path) -> list[str]:
    """Clean-up after a failed block (README's stop block ran otherwise): SIGINT to the worker,
    then SIGTERM to the server once the worker is gone, a second signal 30 s later where needed;
    -> notes on what it took, printed with the timings."""
    notes = []
    for name, sig in (("worker", signal.SIGINT), ("server", signal.SIGTERM)):
        pidfile = repo / ".prefect" / f"{name}.pid"
        if not pidfile.is_file():
            continue
        pid = int(pidfile.read_text())
        for attempt in (1, 2):
            if not _alive(pid):
                break
            os.kill(pid, sig)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.2)
            if attempt == 2 or _alive(pid):
                notes.append(f"{name}: {signal.Signals(sig).name} #{attempt}, still running: {_alive(pid)}")
    return notes


def prefect_running(repo: Path, wait_s: float) -> list[str]:
    """The Prefect processes (.prefect/*.pid) still alive `wait_s` after README's stop block."""
    pids = {name: int(f.read_text()) for name in ("worker", "server")
            if (f := repo / ".prefect" / f"{name}.pid").is_file()}
    deadline = time.monotonic() + wait_s
    while (running := [n for n, pid in pids.items() if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.5)
    return running


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:                                      # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def left_behind(repo: Path) -> list[str]:
    """Processes still running in the repo a while after the servers were stopped; killed."""
    deadline = time.monotonic() + 60
    while (pids := [p for p in processes_in(repo) if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.5)
    names = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            names.append(f"{pid}: {cmdline[:200]}")
            os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass
    return names


def check_queued_experiments(repo: Path, env: dict) -> int:
    """Every queued experiment's params.yaml (DVC's rewrite) validates; -> how many."""
    status = subprocess.run([str(repo / ".venv/bin/dvc"), "queue", "status"], cwd=repo, env=env,
                            capture_output=True, text=True, check=True).stdout
    tasks = re.findall(r"^([0-9a-f]{7,})\s+\S+\s+.*Queued", status, re.M)
    for task in tasks:
        queued = repo / f"queued-{task}.yaml"
        queued.write_text(git(repo, "show", f"{task}:params.yaml"))
        load_params(queued)
        queued.unlink()
    return len(tasks)


@pytest.mark.slow
def test_readme_commands_run_in_order_on_a_tiny_repo(tmp_path):
    test_every_readme_command_is_handled()
    repo = make_tiny_repo(tmp_path / "repo", readme_params()).resolve()
    for name in ("pyproject.toml", "requirements.lock"):    # .venv/.installed stays newer: make
        os.utime(repo / name, (0, 0))                        # never reinstalls the shared venv
    env = {k: v for k, v in dvc_env().items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_HOME": str(tmp_path / "prefect_home"),    # the one-off flows' temporary server
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",     # 2 busy cores
                "PREFECT_WORKER_QUERY_SECONDS": "2"})
    ports = {name: free_port() for name in README_PORTS}
    ran, queued, timings = [], 0, []
    try:
        for where, cmds in all_blocks():
            t0 = time.monotonic()
            result = run_block(repo, cmds, env, ports)
            timings.append(f"{where}: {time.monotonic() - t0:.0f} s")
            assert result.returncode == 0, (f"{where}: `{failed_command(cmds, result.stdout)}` failed "
                                            f"({result.returncode}):\n{result.stdout[-6000:]}")
            ran += cmds
            if any(handling(c).how == "queue" for c in cmds):
                queued += check_queued_experiments(repo, env)
            if any(handling(c).how == "preset" for c in cmds):     # the other sections use the default
                git(repo, "checkout", "--", "params.yaml")
            if "make repro" in cmds:          # as a clone has them: dvc.lock and small outputs committed
                git(repo, "add", "-A")
                git(repo, "commit", "-qm", "outputs of make repro")
        assert not (running := prefect_running(repo, wait_s=30)), \
            f"README's stop block left the Prefect {' and '.join(running)} running 30 s later"
    finally:
        stops = stop_detached(repo)
        leftovers = left_behind(repo)
        print("README blocks:", "; ".join(timings), "| stopping:", "; ".join(stops) or "first signal")
    assert not leftovers, "processes left behind:\n" + "\n".join(leftovers)
    assert queued == sum(handling(c).how == "queue" for c in ran)


@pytest.mark.slow
def test_readme_experiments_queue_on_the_projects_own_params_yaml(tmp_path):
    """README's `dvc exp run -S` commands against the real params.yaml (the tiny copy above has
    its own): queued, DVC rewrites params.yaml with each override; every queued file validates."""
    repo = make_tiny_repo(tmp_path / "repo").resolve()
    (repo / "params.yaml").write_text((REPO_ROOT / "params.yaml").read_text())
    git(repo, "commit", "-qam", "the project's params.yaml")
    env = dvc_env()
    exps = [cmd for _, block in all_blocks() for cmd in block if handling(cmd).how == "queue"]
    assert exps, "README shows no `dvc exp run`"
    for cmd in exps:
        result = run_block(repo, [cmd], env, {})
        assert result.returncode == 0, f"`{cmd}` on params.yaml:\n{result.stdout[-4000:]}"
    assert check_queued_experiments(repo, env) == len(exps)
