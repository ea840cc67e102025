"""biggan.storage on a shared-filesystem root (the S3 side runs against a real store in
tests/cluster): content-keyed copies, node-local copies, and the checks before any work."""
from __future__ import annotations

import pytest

from biggan import storage


def test_inputs_are_copied_once_per_content_and_whole(tmp_path):
    src = tmp_path / "shards"
    src.mkdir()
    (src / "a.tar").write_bytes(b"a" * 100)
    (src / "index.json").write_text("{}")
    root = str(tmp_path / "shared")
    (tmp_path / "shared").mkdir()
    url = storage.put_input(src, root)
    assert url.startswith(f"{root}/inputs/") and url.endswith("/shards")
    assert storage.exists(storage.join(url, storage.COMPLETE))
    assert storage.read_bytes(storage.join(url, "a.tar")) == b"a" * 100
    assert storage.put_input(src, root) == url                      # same bytes: same key, no copy
    (src / "a.tar").write_bytes(b"b" * 100)
    assert storage.put_input(src, root) != url                      # other bytes: another key
    single = storage.put_input(src / "index.json", root)
    assert storage.size(single) == 2 and storage.local_copy(single) == storage.local_copy(single)


def test_a_shared_root_must_exist_and_take_writes(tmp_path):
    with pytest.raises(storage.StorageError, match="does not exist .*mounted"):
        storage.check(str(tmp_path / "not-mounted"))
    (tmp_path / "ok").mkdir()
    storage.check(str(tmp_path / "ok"))
    assert list((tmp_path / "ok").iterdir()) == []                  # the probe is removed


def test_an_s3_store_without_keys_is_refused_before_any_request(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(storage.StorageError, match="no credentials for the store at http://127.0.0.1:9"):
        storage.check("s3://bucket/x")


def test_only_s3_urls_and_paths(tmp_path):
    with pytest.raises(storage.StorageError, match="only s3://"):
        storage.filesystem("gs://bucket/x")
    assert storage.is_url("s3://b/k") and not storage.is_url(tmp_path)
    assert storage.join("s3://b/k/", "/inputs/", "x") == "s3://b/k/inputs/x"
