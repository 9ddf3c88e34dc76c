"""Receiving an uploaded model: a streaming multipart parse straight to a spool file.

The body is never held in memory and its size is counted as it arrives, whatever Content-Length
says (or whether it is sent at all): past `max_bytes` the upload stops with 413 and the partial
file is removed. The file part goes to a server-named temporary file in the data directory
(the client's filename is kept for display only, cleaned of paths and control characters);
other parts are small text fields, limited in number and size. Once complete, the file's first
bytes are sniffed: an empty file is a 400, a format we do not convert a 415.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from processing.ingest import ACCEPTED, sniff

from .errors import ApiError

FILE_FIELD = "file"
MAX_PARTS = 8
MAX_FIELD_BYTES = 1024
MAX_FILENAME_CHARS = 255
SNIFF_BYTES = 4096


@dataclass
class ReceivedFile:
    """An uploaded file on local disk; the caller removes `path` when done with it."""

    path: Path
    size: int
    sha256: str
    filename: str
    fields: dict[str, str]


async def receive_upload(
    request: Request, spool_dir: Path, max_bytes: int, idle_seconds: float = 30.0, max_seconds: float = 3600.0
) -> ReceivedFile:
    """Stream the request's multipart body into `spool_dir`, enforcing every upload limit.

    A client that sends nothing for `idle_seconds`, or takes longer than `max_seconds` in all, gets a
    408: a trickle of bytes must not hold a connection and a spool file forever (slowloris).
    """
    boundary = _boundary(request.headers.get("content-type"))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)  # refused before reading; the count below is what holds

    spool_dir.mkdir(parents=True, exist_ok=True)
    sink = _Sink(spool_dir)
    try:
        parser = MultipartParser(boundary, sink.callbacks())
        received = 0
        async for chunk in _paced(request.stream(), idle_seconds, max_seconds):
            received += len(chunk)
            if received > max_bytes:
                raise _too_large(max_bytes)
            # Parsing, hashing and writing are blocking work: keep them off the event loop.
            await run_in_threadpool(parser.write, chunk)
        parser.finalize()
        return sink.result()
    except FormParserError as exc:
        sink.discard()
        raise ApiError(400, "INVALID_MULTIPART", "The multipart body is malformed.") from exc
    except ClientDisconnect as exc:
        sink.discard()
        raise ApiError(400, "UPLOAD_INCOMPLETE", "The client disconnected before the upload finished.") from exc
    except BaseException:
        sink.discard()
        raise


async def _paced(chunks: AsyncIterator[bytes], idle_seconds: float, max_seconds: float) -> AsyncIterator[bytes]:
    deadline = time.monotonic() + max_seconds
    while True:
        wait = min(idle_seconds, deadline - time.monotonic())
        try:
            chunk = await asyncio.wait_for(anext(chunks), timeout=max(wait, 0))
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiError(408, "UPLOAD_TIMEOUT", "The upload was too slow: the client stopped sending data.") from None
        yield chunk


def _boundary(content_type: str | None) -> bytes:
    ctype, params = parse_options_header(content_type)
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "Send the model as multipart/form-data with a 'file' part.")
    return params[b"boundary"]


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "UPLOAD_TOO_LARGE", f"The upload is larger than the limit of {max_bytes} bytes.")


def display_filename(raw: str | None) -> str:
    """The client's filename made harmless to show: no directories, control or bidi characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] not in ("C", "Z") or ch == " ")
    return name.strip()[:MAX_FILENAME_CHARS] or "upload"


class _Sink:
    """python-multipart callbacks: the file part to a spool file, text fields to a dict."""

    def __init__(self, spool_dir: Path):
        self.spool_dir = spool_dir
        self.parts = 0
        self.fields: dict[str, str] = {}
        self.complete = False
        self._headers: dict[bytes, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._field_name: str | None = None  # the text field being received, if any
        self._field_value = bytearray()
        self._receiving_file = False
        self._file = None
        self.path: Path | None = None
        self.filename = ""
        self.size = 0
        self._digest = hashlib.sha256()
        self._head = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise ApiError(400, "TOO_MANY_PARTS", f"A model upload has at most {MAX_PARTS} form fields.")
        self._headers.clear()

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get(b"content-disposition"))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if disposition != b"form-data" or not name:
            raise ApiError(400, "INVALID_MULTIPART", "Every part needs a Content-Disposition: form-data name.")
        if name == FILE_FIELD:
            if self._file is not None:
                raise ApiError(400, "TOO_MANY_FILES", "Send one file per upload.")
            fd, path = tempfile.mkstemp(dir=self.spool_dir, prefix="upload-")
            self._file, self.path = os.fdopen(fd, "wb"), Path(path)
            self.filename = display_filename(params.get(b"filename", b"").decode("utf-8", "replace"))
            self._receiving_file = True
        elif b"filename" in params:
            raise ApiError(400, "UNEXPECTED_FILE", f"Send the model in the '{FILE_FIELD}' field.")
        elif name in self.fields:
            raise ApiError(400, "DUPLICATE_FIELD", "A form field was sent twice.")
        else:
            self._field_name = name
            self._field_value.clear()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._receiving_file:
            self._file.write(chunk)
            self._digest.update(chunk)
            self.size += len(chunk)
            if len(self._head) < SNIFF_BYTES:
                self._head.extend(chunk[: SNIFF_BYTES - len(self._head)])
        elif self._field_name is not None:
            self._field_value.extend(chunk)
            if len(self._field_value) > MAX_FIELD_BYTES:
                raise ApiError(400, "FIELD_TOO_LARGE", f"Form fields are limited to {MAX_FIELD_BYTES} bytes.")

    def _part_end(self) -> None:
        if self._receiving_file:
            self._file.close()
            self._receiving_file = False
        elif self._field_name is not None:
            try:
                self.fields[self._field_name] = self._field_value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ApiError(400, "INVALID_MULTIPART", "Form fields must be UTF-8 text.") from exc
            self._field_name = None

    def _end(self) -> None:
        self.complete = True

    def result(self) -> ReceivedFile:
        if not self.complete:
            raise ApiError(400, "INVALID_MULTIPART", "The multipart body ended before its closing boundary.")
        if self.path is None:
            raise ApiError(400, "MISSING_FILE", f"Send the model in a '{FILE_FIELD}' form field.")
        if self.size == 0:
            raise ApiError(400, "EMPTY_FILE", "The uploaded file is empty.")
        if sniff(bytes(self._head), self.size) is None:
            raise ApiError(
                415,
                "UNSUPPORTED_FORMAT",
                f"The file is not a format we convert: {ACCEPTED}.",
            )
        return ReceivedFile(self.path, self.size, self._digest.hexdigest(), self.filename, dict(self.fields))

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
