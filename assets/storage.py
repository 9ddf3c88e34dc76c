"""Where files live: a tiny storage interface and its local-disk backend.

Everything that stores bytes (uploaded originals, published GLB/USDZ/report files, manifests) goes
through `Storage`, so the S3 backend (assets/storage_s3.py) changes settings, not code. Keys are `/`-separated
relative names chosen by the server, never by a client; published files are content-addressed
(`objects/<sha256>.<ext>`) and therefore immutable.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol
from urllib.parse import unquote, urlsplit

CHUNK = 1024 * 1024


class Storage(Protocol):
    """The operations the catalog and the runners need from a store of objects."""

    def put(self, key: str, source: Path | bytes, content_type: str) -> None:
        """Store `source` under `key`, replacing it atomically if it exists."""

    def open(self, key: str) -> BinaryIO:
        """A binary file object to read the object; raises FileNotFoundError if absent."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object; absent objects are not an error."""

    def url(self, key: str) -> str:
        """Where a client fetches the object: absolute, or relative to the service's base URL."""

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys that start with `prefix`, in no particular order."""

    def entries(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        """(key, last modified, UTC) of the keys that start with `prefix`: what `vitrine3d gc` ages."""


def object_key(digest: str, ext: str) -> str:
    """The content-addressed key of a published file."""
    return f"objects/{digest}.{ext}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class LocalStorage:
    """Objects as files under one directory; served by the API's /files route."""

    url_prefix = "/files/"

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """The file behind `key`. Keys are made by the server, but are still checked to stay inside."""
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or ".." in parts or "\\" in key:
            raise ValueError(f"invalid storage key: {key!r}")
        return self.root.joinpath(*parts)

    def put(self, key: str, source: Path | bytes, content_type: str) -> None:
        # Local files keep no content type: the catalog records it with each published object.
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename, so a reader never sees half an object.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(source, bytes):
                    out.write(source)
                else:
                    with open(source, "rb") as src:
                        shutil.copyfileobj(src, out, CHUNK)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> BinaryIO:
        return open(self.path(key), "rb")

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def url(self, key: str) -> str:
        return self.url_prefix + key

    def list(self, prefix: str = "") -> Iterator[str]:
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(".put-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def entries(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        for key in self.list(prefix):
            try:
                yield key, datetime.fromtimestamp(self.path(key).stat().st_mtime, UTC)
            except FileNotFoundError:
                continue  # deleted while we listed


def storage_from_url(url: str, *, endpoint_url: str | None = None, public_base_url: str | None = None) -> Storage:
    """The backend named by a storage URL: `file://./data/objects`, `file:///srv/objects`, `s3://bucket/prefix`.

    `endpoint_url` and `public_base_url` only concern S3 (an S3-compatible endpoint; a CDN or
    bucket URL that serves published objects, instead of presigned URLs).
    """
    parts = urlsplit(url)
    if parts.scheme == "file":
        # `file://./data` keeps a relative path (netloc "."), `file:///srv` an absolute one.
        return LocalStorage(Path(unquote(parts.netloc + parts.path)))
    if parts.scheme == "s3" and parts.netloc:
        from .storage_s3 import S3Storage

        return S3Storage(
            parts.netloc, unquote(parts.path), endpoint_url=endpoint_url, public_base_url=public_base_url
        )
    raise ValueError(f"unsupported storage URL {url!r}: expected file://PATH or s3://BUCKET/PREFIX")
