"""What Ray hands every worker names no path of the launching machine once `storage.root` is set:
shards, feature net and reference statistics are the store's content-keyed copies, by URL."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from pydantic import BaseModel

from biggan import storage
from biggan.train.factories import EvalScorer, ShardStream
from biggan.train.job import Tracking
from biggan.train.ray_trainer import loop_config
from biggan.train.run import worker_job
from tests.train.specs import tiny_spec


def strings(obj) -> list[str]:
    """Every string inside dataclasses, pydantic models, dicts and sequences."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, BaseModel):
        return strings(obj.model_dump(mode="json"))
    if dataclasses.is_dataclass(obj):
        return strings({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in strings(k) + strings(v)]
    if isinstance(obj, (list, tuple, set)):
        return [s for v in obj for s in strings(v)]
    return []


def inputs(repo: Path) -> tuple[ShardStream, EvalScorer]:
    shards = repo / "data/shards/d16/train"
    shards.mkdir(parents=True)
    (shards / "shard-000000.tar").write_bytes(b"t" * 1024)
    (shards / "index.json").write_text(json.dumps({"shards": [{"name": "shard-000000.tar", "bytes": 1024}]}))
    (repo / "data/feature_net").mkdir(parents=True)
    (repo / "data/feature_net/digits_net.pt").write_bytes(b"w")
    (repo / "data/refstats/d16").mkdir(parents=True)
    (repo / "data/refstats/d16/train_stats.npz").write_bytes(b"s")
    spec = tiny_spec(train={"evaluate": True})
    return (ShardStream(str(shards), 16, "d16", 10),
            EvalScorer.under(repo, spec.eval, "d16"))


def test_no_worker_config_names_a_path_of_the_launching_machine(tmp_path):
    repo, shared = tmp_path / "repo", tmp_path / "shared"
    data, scorer = inputs(repo)
    spec = tiny_spec(train={"evaluate": True, "launcher": "ray"})
    tracking = Tracking("http://127.0.0.1:5000", "0123abcd")

    local = strings(loop_config(worker_job(spec, data, scorer, tracking), str(repo / "ckpt")))
    assert any(s.startswith(str(repo)) for s in local)            # today's one-machine job: local paths

    job = worker_job(spec, data, scorer, tracking, store=str(shared))
    config = loop_config(job, storage.join(str(shared), storage.CHECKPOINTS, "run", "worker_starts"))
    paths = [s for s in strings(config) if s.startswith("/") or str(tmp_path) in s]
    assert paths and all(s.startswith(str(shared)) for s in paths), paths
    assert not any(str(repo) in s for s in strings(config))
    # the copies hold the same bytes, under content-keyed names, and the worker finds its inputs there
    assert Path(job.data.shard_dir, "shard-000000.tar").read_bytes() == b"t" * 1024
    here = job.scorer.local()
    assert here.missing() is None and all(str(p).startswith(str(shared)) for p in here.inputs())


def test_the_same_content_is_copied_once(tmp_path):
    data, scorer = inputs(tmp_path / "one")
    first = data.on_store(str(tmp_path / "shared"))
    other, _ = inputs(tmp_path / "two")                           # another clone, same bytes
    assert other.on_store(str(tmp_path / "shared")).shard_dir == first.shard_dir
    (tmp_path / "two/data/shards/d16/train/shard-000000.tar").write_bytes(b"u" * 1024)
    assert other.on_store(str(tmp_path / "shared")).shard_dir != first.shard_dir
