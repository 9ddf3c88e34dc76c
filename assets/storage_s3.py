"""S3Storage: the Storage interface on S3 or any S3-compatible store (MinIO, R2, Ceph), via boto3.

Keys are the same server-made names as on disk, under an optional prefix of the bucket. Every
object is written with its Content-Type, a Content-Disposition and, for the content-addressed
published files (`objects/…`, immutable by construction), `Cache-Control: public,
max-age=31536000, immutable`, so a CDN or the bucket can serve them without the API.

Big files go up as multipart uploads (boto3's transfer manager, which aborts the multipart upload
when a part fails, so no invisible half-uploads accumulate in the bucket). botocore's "standard"
retry mode retries throttling, 5xx answers and dropped connections with exponential backoff and
jitter; what still fails is raised as `StorageUnavailable` (an OSError: the runners treat it as an
infrastructure failure and retry the job later). Credentials come from the standard AWS chain
(environment, shared config, instance role); nothing here reads them itself.

URLs: with a public base URL (a CDN in front of the bucket, or the bucket's own website) an
object's URL is that base plus its key; without one, a presigned GET that expires.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

MiB = 1024 * 1024
IMMUTABLE = "public, max-age=31536000, immutable"
PUBLISHED_PREFIX = "objects/"


class StorageUnavailable(OSError):
    """The object store could not be reached or refused the request (after retries)."""


def _boto3():
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - boto3 is a dependency; this is for trimmed installs
        raise RuntimeError("S3 storage needs boto3: pip install boto3") from exc
    return boto3, Config


class S3Storage:
    """Objects in `bucket` under `prefix`; see the module docstring for headers, retries and URLs."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        public_base_url: str | None = None,
        presign_seconds: int = 3600,
        multipart_threshold: int = 64 * MiB,
        multipart_chunksize: int = 16 * MiB,
        max_attempts: int = 5,
        client=None,
    ):
        boto3, Config = _boto3()
        from boto3.s3.transfer import TransferConfig

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.presign_seconds = presign_seconds
        config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=5,
            read_timeout=60,
            signature_version="s3v4",
        )
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url, config=config)
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold, multipart_chunksize=multipart_chunksize, use_threads=False
        )

    # The Storage interface -------------------------------------------------------------------

    def put(self, key: str, source: Path | bytes, content_type: str) -> None:
        extra = {"ContentType": content_type, "ContentDisposition": _disposition(key)}
        if key.startswith(PUBLISHED_PREFIX):
            extra["CacheControl"] = IMMUTABLE
        with _call("put", key):
            if isinstance(source, bytes):
                self.client.upload_fileobj(io.BytesIO(source), self.bucket, self._full(key), extra, Config=self.transfer)
            else:
                self.client.upload_file(str(source), self.bucket, self._full(key), extra, Config=self.transfer)

    def open(self, key: str) -> BinaryIO:
        with _call("get", key):
            return self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"]

    def exists(self, key: str) -> bool:
        try:
            with _call("head", key):
                self.client.head_object(Bucket=self.bucket, Key=self._full(key))
        except FileNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        with _call("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._full(key))

    def url(self, key: str) -> str:
        if self.public_base_url:
            return f"{self.public_base_url}/{self._full(key)}"
        return self.presigned_get(key, self.presign_seconds)

    def list(self, prefix: str = "") -> Iterator[str]:
        for key, _ in self.entries(prefix):
            yield key

    def entries(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        """(key, last modified) of every object whose key starts with `prefix`."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._full(prefix))
        with _call("list", prefix):
            for page in pages:
                for item in page.get("Contents", []):
                    yield item["Key"][len(self.prefix) :], item["LastModified"]

    # Direct access for clients ---------------------------------------------------------------

    def presigned_get(self, key: str, seconds: int) -> str:
        """A URL that reads the object without credentials until it expires."""
        params = {"Bucket": self.bucket, "Key": self._full(key)}
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)

    def presigned_put(self, key: str, content_type: str, seconds: int, size: int | None = None) -> str:
        """A URL a client PUTs a (very large) original to, with this Content-Type (and, when given, exactly
        `size` bytes: the length is part of the signature), until it expires."""
        params = {"Bucket": self.bucket, "Key": self._full(key), "ContentType": content_type}
        if size is not None:
            params["ContentLength"] = size
        return self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=seconds)

    def size(self, key: str) -> int | None:
        """The object's size in bytes, or None if there is no such object."""
        try:
            with _call("head", key):
                return self.client.head_object(Bucket=self.bucket, Key=self._full(key))["ContentLength"]
        except FileNotFoundError:
            return None

    def _full(self, key: str) -> str:
        parts = PurePosixPath(key).parts
        if key and (key.startswith("/") or ".." in parts or "\\" in key):
            raise ValueError(f"invalid storage key: {key!r}")
        return self.prefix + key


def _disposition(key: str) -> str:
    # Published files open in the browser (model-viewer, Quick Look); anything else downloads.
    name = PurePosixPath(key).name.replace('"', "")
    return f'inline; filename="{name}"' if key.startswith(PUBLISHED_PREFIX) else f'attachment; filename="{name}"'


class _call:
    """Turns botocore's errors into the OSErrors the Storage interface promises."""

    def __init__(self, operation: str, key: str):
        self.operation, self.key = operation, key

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None or isinstance(exc, OSError | ValueError):
            return False
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(f"no object {self.key!r}") from exc
            raise StorageUnavailable(f"S3 {self.operation} of {self.key!r} failed: {code}") from exc
        if isinstance(exc, BotoCoreError | S3UploadFailedError):
            raise StorageUnavailable(f"S3 {self.operation} of {self.key!r} failed: {type(exc).__name__}") from exc
        return False

