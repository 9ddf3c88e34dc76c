"""LocalStorage: the Storage operations on disk, keys that cannot escape, URL-based selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from assets.storage import LocalStorage, object_key, sha256_file, storage_from_url


def test_put_open_exists_list_delete(tmp_path: Path):
    storage = LocalStorage(tmp_path / "objects")
    source = tmp_path / "model.glb"
    source.write_bytes(b"glb bytes")
    key = object_key(sha256_file(source), "glb")

    storage.put(key, source, "model/gltf-binary")
    storage.put("manifests/job.json", b"{}", "application/json")

    assert storage.exists(key) and storage.open(key).read() == b"glb bytes"
    assert sorted(storage.list()) == sorted([key, "manifests/job.json"])
    assert list(storage.list("manifests/")) == ["manifests/job.json"]
    assert storage.url(key) == f"/files/{key}"
    storage.delete(key)
    storage.delete(key)  # absent is fine
    assert not storage.exists(key)
    with pytest.raises(FileNotFoundError):
        storage.open(key)


def test_put_replaces_whole_objects_and_leaves_no_temporary_files(tmp_path: Path):
    storage = LocalStorage(tmp_path)
    storage.put("a/b", b"first", "application/octet-stream")
    storage.put("a/b", b"second", "application/octet-stream")
    assert storage.open("a/b").read() == b"second"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b"]


@pytest.mark.parametrize("key", ["../outside", "a/../../outside", "/etc/passwd", "a\\..\\b", ""])
def test_keys_cannot_leave_the_storage_directory(tmp_path: Path, key: str):
    storage = LocalStorage(tmp_path / "objects")
    with pytest.raises(ValueError):
        storage.put(key, b"x", "text/plain")
    with pytest.raises(ValueError):
        storage.exists(key)


def test_storage_from_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    relative = storage_from_url("file://./data/objects")
    assert isinstance(relative, LocalStorage) and relative.root == tmp_path / "data" / "objects"
    assert storage_from_url(f"file://{tmp_path}/abs").root == tmp_path / "abs"
    with pytest.raises(ValueError, match="unsupported storage URL 'gs://bucket/prefix'"):
        storage_from_url("gs://bucket/prefix")
