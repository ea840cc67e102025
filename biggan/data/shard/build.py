"""Shard one split of a dataset: list, shuffle (seeded), process in parallel, write tars in order.

Output folder:
  shard-000000.tar ...  samples {__key__, jpg|png, cls, json}
  classes.json          class index -> id (wnid, folder, label) and name
  skipped.json          inputs left out (links, unsafe archive members, unreadable or
                        undecodable files), each with a reason that is the same on every run
  index.json            written last: shards with counts and sha256, class counts, params used
Workers decode and encode; this process writes the tars in the shuffled order, so the result
does not depend on the number of workers. Each shard covers a range of the shuffled inputs
(its samples and the skipped inputs among them); a rerun resumes after the last good shard.
"""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from biggan.config.data import DatasetConfig
from biggan.data.items import Item
from biggan.data.shard import report, state
from biggan.data.shard.process import Outcome, Recipe, digest_of, init_worker, process_in_worker
from biggan.data.shard.tarout import ShardFile
from biggan.data.sources import list_source

WINDOW_PER_WORKER = 256     # bounds the finished samples waiting in memory

Mapper = Callable[[Callable, Sequence[Item]], Iterator]


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def recipe_of(ds: DatasetConfig) -> Recipe:
    digits_filter = getattr(ds.source, "upsample_filter", None)
    return Recipe(ds.resolution, digits_filter or ds.resize_filter, ds.draft, ds.encoding, ds.quality)


def shuffled(items: list[Item], seed: int) -> list[Item]:
    order = np.random.default_rng(seed).permutation(len(items))
    return [items[i] for i in order]


@contextlib.contextmanager
def mapper(workers: int, recipe: Recipe) -> Iterator[Mapper]:
    """Ordered map over items: in this process for 1 worker, else a process pool, in windows.

    spawn, not fork: callers may run threads (Prefect, tqdm). Spawned workers re-import the
    caller's __main__ module, so entry points keep their top-level imports light. A worker
    that dies raises BrokenProcessPool here instead of hanging.
    """
    if workers <= 1:
        init_worker(recipe)
        yield lambda fn, items: map(fn, items)
        return
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=init_worker,
                             initargs=(recipe, os.getpid())) as pool:
        def imap(fn: Callable, items: Sequence[Item]) -> Iterator:
            window = workers * WINDOW_PER_WORKER
            chunk = max(1, min(32, len(items) // (workers * 8)))
            for lo in range(0, len(items), window):
                yield from pool.map(fn, items[lo:lo + window], chunksize=chunk)
        yield imap


class Writer:
    """Cuts the ordered outcomes into shards; records each shard's range of inputs."""

    def __init__(self, out: Path, ds: DatasetConfig, records: list[dict], journal: Callable[[], None]):
        self.out, self.ds, self.records, self.journal = out, ds, records, journal
        self.pos = records[-1]["end"] if records else 0
        self.first = self.pos
        self.shard: ShardFile | None = None
        self.digests: list[tuple[str, str]] = []     # (key, input sha256) of [first, pos)
        self.skipped: list[dict] = []

    def add(self, item: Item, res: Outcome) -> None:
        if res.fields is None:
            self.skipped.append({"key": item.key, "source": item.origin, "reason": res.reason})
        else:
            if self.shard is not None and not self.shard.fits(res.fields, self.ds.shard_max_count,
                                                              self.ds.shard_max_bytes):
                self.commit()
            if self.shard is None:
                self.shard = ShardFile(self.out, len(self.records))
            self.shard.add(res.key, res.fields)
        self.digests.append((res.key, res.digest))
        self.pos += 1

    def commit(self) -> None:
        assert self.shard is not None
        rec = self.shard.commit()
        rec.update(first=self.first, end=self.pos, skipped=self.skipped,
                   keys_sha256=state.keys_sha256(k for k, _ in self.digests),
                   inputs_sha256=state.inputs_sha256(self.digests))
        self.records.append(rec)
        self.journal()
        self.shard, self.first, self.digests, self.skipped = None, self.pos, [], []

    def finish(self) -> list[dict]:
        """Commit the open shard; -> skipped inputs after the last shard (none if one was open)."""
        if self.shard is not None:
            self.commit()
        return self.skipped

    def abandon(self) -> None:
        if self.shard is not None:
            self.shard.abandon()


def build_shards(ds: DatasetConfig, split: str, out: str | Path, *, name: str = "",
                 progress: bool = True) -> dict:
    """Write (or finish) the shards of one split; -> the index. Raises SourceError for bad raw
    data and report.TooManySkipped when more inputs than ds.max_skipped_fraction fail."""
    out = Path(out)
    listing = list_source(ds.source, split)
    items = shuffled(listing.items, ds.shuffle_seed)
    used, fingerprint = state.params_fingerprint(ds, split)
    out.mkdir(parents=True, exist_ok=True)
    workers = min(ds.workers or default_workers(), max(1, len(items)))
    with mapper(workers, recipe_of(ds)) as run:
        records = state.reusable_shards(state.load_previous(out), fingerprint, items, out,
                                        lambda some: list(run(digest_of, some)))

        def journal() -> None:
            state.write_json(out / state.PROGRESS, {"params_sha256": fingerprint, "shards": records})

        journal()     # before clean() drops index.json: a kill in between still resumes
        state.clean(out, keep={r["name"] for r in records})
        writer = Writer(out, ds, records, journal)
        todo = items[writer.pos:]
        bar = tqdm(total=len(items), initial=writer.pos, unit="img", disable=not progress,
                   desc=f"shard {name or ds.source.kind}/{split}", mininterval=1.0)
        try:
            for item, res in zip(todo, run(process_in_worker, todo)):
                writer.add(item, res)
                bar.update()
            tail = writer.finish()
        except BaseException:
            writer.abandon()
            raise
        finally:
            bar.close()
    return report.finish(out, listing, items, records, tail, ds, split, name, used, fingerprint)
