"""One storage root for what every node of a cluster reads and writes, by URI (`storage.root`).

    null                  this machine's folders, as on one machine (the default)
    s3://bucket/prefix    an S3-compatible store, configured the usual AWS way: AWS_ENDPOINT_URL
                          (or AWS_ENDPOINT_URL_S3), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
                          AWS_REGION (default us-east-1)
    /mnt/shared/biggan    a filesystem every node mounts at the same path

Under the root:
    checkpoints/train/<run>/    Ray Train's checkpoints (RunConfig storage_path + storage_filesystem)
    inputs/<md5>/<name>         a run's inputs (shard folders, feature-net weights, reference
                                statistics), copied once per content: the same bytes from any
                                clone map to the same key, so nothing is copied twice

Every access goes through pyarrow.fs, the layer Ray Train's storage uses; webdataset opens
`s3://` shard URLs through a gopen handler registered here. Credentials come from the
environment (each Ray job carries them to its workers: biggan.parallel.ray_session.Credentials)
and are never logged.
"""
from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from biggan.files import atomic_write

ENDPOINT_VARS = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
# what a worker on another node needs from the launching environment
CREDENTIAL_VARS = (*ENDPOINT_VARS, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                   "AWS_REGION", "AWS_DEFAULT_REGION")
COMPLETE = ".complete"               # written last into a copied folder: the copy is whole
CHECKPOINTS = "checkpoints/train"    # Ray Train's checkpoints, under the root


class StorageError(RuntimeError):
    """The store cannot be used: unreachable, no such bucket, refused credentials."""


def is_url(path: str | Path) -> bool:
    return "://" in str(path)


def join(base: str, *parts: str) -> str:
    return "/".join([str(base).rstrip("/"), *(p.strip("/") for p in parts)])


def endpoint() -> str | None:
    return next((os.environ[v] for v in ENDPOINT_VARS if os.environ.get(v)), None)


@functools.lru_cache(maxsize=4)
def _s3(pid: int, endpoint_url: str | None, region: str, key: str | None, secret: str | None, token: str | None):
    from pyarrow import fs

    kw = {}
    if endpoint_url:
        u = urlparse(endpoint_url)
        kw.update(endpoint_override=u.netloc or u.path, scheme=u.scheme or "https")
    if key and secret:
        kw.update(access_key=key, secret_key=secret, session_token=token)
    # a few quick retries: an unreachable store fails in seconds, naming its endpoint
    return fs.S3FileSystem(region=region, connect_timeout=5, request_timeout=60,
                           retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=3), **kw)


def s3_filesystem():
    """pyarrow's S3 filesystem from the environment (one per distinct setting, per process: a
    client made before a fork, e.g. of DataLoader workers, does not work in the child)."""
    e = os.environ
    return _s3(os.getpid(), endpoint(), e.get("AWS_REGION") or e.get("AWS_DEFAULT_REGION") or "us-east-1",
               e.get("AWS_ACCESS_KEY_ID"), e.get("AWS_SECRET_ACCESS_KEY"), e.get("AWS_SESSION_TOKEN"))


def filesystem(url: str | Path):
    """-> (pyarrow filesystem, its path) for an s3:// URL or a local path."""
    from pyarrow import fs

    url = str(url)
    if url.startswith("s3://"):
        return s3_filesystem(), url[5:].rstrip("/")
    if is_url(url):
        raise StorageError(f"{url}: only s3:// URLs and filesystem paths are supported")
    return fs.LocalFileSystem(), str(Path(url).absolute())


def _where(url: str) -> str:
    return f"{url} (endpoint {endpoint() or 'AWS default'})" if url.startswith("s3://") else url


def read_bytes(url: str) -> bytes:
    fs, path = filesystem(url)
    with fs.open_input_stream(path) as f:
        return f.read()


def write_bytes(url: str, data: bytes) -> None:
    """Whole or not at all: an S3 put is atomic; a local file is renamed into place."""
    if not url.startswith("s3://"):
        atomic_write(Path(url), lambda f: f.write(data))
        return
    fs, path = filesystem(url)
    with fs.open_output_stream(path) as f:
        f.write(data)


def size(url: str) -> int:
    """Bytes of a file; FileNotFoundError if there is none."""
    from pyarrow.fs import FileType

    fs, path = filesystem(url)
    info = fs.get_file_info(path)
    if info.type != FileType.File:
        raise FileNotFoundError(f"{url}: no such file")
    return info.size


def exists(url: str) -> bool:
    from pyarrow.fs import FileType

    fs, path = filesystem(url)
    return fs.get_file_info(path).type != FileType.NotFound


def delete_dir(url: str) -> None:
    from pyarrow.fs import FileType

    fs, path = filesystem(url)
    if fs.get_file_info(path).type == FileType.Directory:
        fs.delete_dir(path)


def open_input(url: str):
    """A readable binary stream (webdataset's gopen handler for s3:// shard URLs)."""
    fs, path = filesystem(url)
    return fs.open_input_stream(path)


def _gopen_s3(url, mode="rb", bufsize=8192, **kw):
    if mode != "rb":
        raise ValueError(f"{url}: shards are only read")
    return open_input(url)


def register_webdataset() -> None:
    """webdataset's gopen opens s3:// URLs through pyarrow (its own handler shells out to a CLI)."""
    from webdataset.gopen import gopen_schemes

    gopen_schemes["s3"] = _gopen_s3


def check(root: str) -> None:
    """Fail fast, naming the endpoint and bucket, unless `root` can be listed, written and read."""
    from pyarrow.fs import FileType

    probe = join(root, ".biggan-probe")
    if root.startswith("s3://") and endpoint() and not (os.environ.get("AWS_ACCESS_KEY_ID")
                                                        and os.environ.get("AWS_SECRET_ACCESS_KEY")):
        # an S3-compatible store of one's own has no instance roles to fall back on (and the SDK
        # would ask the cloud's metadata address for them)
        raise StorageError(f"storage.root {root}: no credentials for the store at {endpoint()}; set "
                           f"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    try:
        fs, path = filesystem(root)
        if not is_url(root) and not Path(root).is_dir():
            raise StorageError(f"storage.root {root} does not exist (is the shared filesystem mounted here?)")
        if root.startswith("s3://"):
            bucket = path.split("/", 1)[0]
            if fs.get_file_info(bucket).type == FileType.NotFound:
                raise StorageError(f"storage.root {root}: bucket {bucket!r} does not exist at endpoint "
                                   f"{endpoint() or 'AWS default'}; create it first")
        write_bytes(probe, b"ok")
        if read_bytes(probe) != b"ok":
            raise StorageError(f"storage.root {root}: a probe file read back differently")
        fs.delete_file(filesystem(probe)[1])
    except StorageError:
        raise
    except OSError as e:
        hint = ""
        text = str(e)
        if any(w in text for w in ("ACCESS_DENIED", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")):
            hint = "; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        elif any(w in text.lower() for w in ("connect", "curl", "timed out", "resolve")):
            hint = "; is the object store running and AWS_ENDPOINT_URL right?"
        raise StorageError(f"storage.root {_where(root)} is not usable: {text.splitlines()[0]}{hint}") from None


# ------------------------------------------------------------------------ content-keyed inputs

@functools.lru_cache(maxsize=4096)
def _md5(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def content_md5(path: str | Path) -> str:
    """md5 of a file's bytes (read once per process while its size and mtime stay the same)."""
    st = os.stat(path)
    return _md5(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def tree_md5(path: str | Path) -> str:
    """md5 of a file, or of a folder's sorted (relative name, content md5) list."""
    path = Path(path)
    if path.is_file():
        return content_md5(path)
    h = hashlib.md5()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(f"{p.relative_to(path).as_posix()}\0{content_md5(p)}\n".encode())
    return h.hexdigest()


def put_input(local: str | Path, root: str) -> str:
    """Copy a file or folder to <root>/inputs/<md5>/<name> unless that content is there already;
    -> its URL. A folder's COMPLETE marker is written last, so a cut copy is copied again."""
    from pyarrow import fs as pafs

    local = Path(local)
    url = join(root, "inputs", tree_md5(local), local.name)
    done = join(url, COMPLETE) if local.is_dir() else url
    if exists(done):
        return url
    dst_fs, dst = filesystem(url)
    if not is_url(url) and local.is_file():    # renamed into place: a cut copy never looks whole
        with open(local, "rb") as src:
            atomic_write(Path(dst), lambda f: shutil.copyfileobj(src, f))
        return url
    if not is_url(url):
        Path(dst).mkdir(parents=True, exist_ok=True)
    pafs.copy_files(str(local.resolve()), dst, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=dst_fs)
    if local.is_dir():
        write_bytes(done, b"")
    return url


def local_copy(url: str) -> Path:
    """A file or folder of the store on this node's disk (cached: input URLs are content-keyed);
    a local path is returned as it is."""
    from pyarrow import fs as pafs

    if not is_url(url):
        return Path(url)
    cache = Path(os.environ.get("BIGGAN_CACHE") or Path(tempfile.gettempdir()) / "biggan-inputs")
    dst = cache / hashlib.sha256(url.encode()).hexdigest()[:24] / url.rstrip("/").rsplit("/", 1)[-1]
    if dst.exists():
        return dst
    src_fs, src = filesystem(url)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".part-", dir=cache))
    if src_fs.get_file_info(src).type == pafs.FileType.Directory:
        (tmp / dst.name).mkdir()          # pyarrow creates sub-folders, not the top one
    pafs.copy_files(src, str(tmp / dst.name), source_filesystem=src_fs, destination_filesystem=pafs.LocalFileSystem())
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp / dst.name, dst)
    except OSError:                       # another worker of this node got there first
        pass
    shutil.rmtree(tmp, ignore_errors=True)
    return dst
