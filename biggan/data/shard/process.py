"""One input item -> one encoded sample (or the reason it was skipped). Runs in worker processes."""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass

from PIL import UnidentifiedImageError

from biggan.data.image import encode, preprocess
from biggan.data.items import Item


@dataclass(frozen=True)
class Recipe:
    resolution: int
    filter: str
    draft: bool
    encoding: str        # "jpg" | "png": also the image's extension in the tar
    quality: int


@dataclass(frozen=True)
class Outcome:
    key: str
    digest: str                          # sha256 of the input bytes ("" when they could not be read)
    fields: dict[str, bytes] | None      # {"cls", "json", "jpg"|"png"}; None when skipped
    reason: str = ""


def digest_of(item: Item) -> str:
    try:
        return hashlib.sha256(item.read()).hexdigest()
    except OSError:
        return ""


def sample_json(item: Item, size: tuple[int, int]) -> bytes:
    meta = {"labels": list(item.labels), "classes": list(item.classes), "source": item.origin,
            "size": list(size)}
    return json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()


_ADDRESS = re.compile(r"<([\w.]+) object at 0x[0-9a-fA-F]+>")


def stable_reason(e: BaseException) -> str:
    """Exception -> text that is the same on every run: object reprs lose their addresses
    (Pillow's "cannot identify image file <_io.BytesIO object at 0x7f...>")."""
    return f"{type(e).__name__}: " + _ADDRESS.sub(r"<\1>", str(e))


def process_item(item: Item, recipe: Recipe) -> Outcome:
    try:
        data = item.read()
    except OSError as e:
        return Outcome(item.key, "", None, f"unreadable: {e.strerror or stable_reason(e)}")
    digest = hashlib.sha256(data).hexdigest()
    if not data:
        return Outcome(item.key, digest, None, "cannot decode: empty file")
    try:
        im, size = preprocess(data, recipe.resolution, recipe.filter, recipe.draft)
    except UnidentifiedImageError:
        return Outcome(item.key, digest, None, "cannot decode: not a known image format")
    except Exception as e:   # Pillow raises OSError, ValueError, SyntaxError, DecompressionBombError...
        return Outcome(item.key, digest, None, f"cannot decode: {stable_reason(e)}")
    fields = {
        "cls": str(item.classes[0]).encode(),
        "json": sample_json(item, size),
        recipe.encoding: encode(im, recipe.encoding, recipe.quality),
    }
    return Outcome(item.key, digest, fields)


_RECIPE: Recipe | None = None


def init_worker(recipe: Recipe, parent: int | None = None) -> None:
    """parent: pid of the process that owns the pool; the worker exits when it is gone."""
    global _RECIPE
    _RECIPE = recipe
    if parent is not None:
        threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()


def _exit_when_orphaned(parent: int) -> None:
    """Pool workers hold both ends of their task pipe, so they never see EOF when the stage is
    killed (SIGKILL, OOM): without this they would wait forever. The parent's pid is passed in,
    as a worker may start only after its parent has died."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def process_in_worker(item: Item) -> Outcome:
    assert _RECIPE is not None, "init_worker was not called"
    return process_item(item, _RECIPE)
