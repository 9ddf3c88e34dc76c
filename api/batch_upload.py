"""Batch upload (`vitrine3d upload`): a catalog spreadsheet and a supplier's folder of 3D files in,
products with published models out, through the public /v1 API.

    vitrine3d upload DIR --catalog products.csv [--api URL] [--key KEY] [--jobs 4] [--dry-run]

The catalog is a CSV (UTF-8, comma, semicolon or tab separated) or an XLSX sheet (with the
optional `openpyxl`: `pip install 'vitrine3d[xlsx]'`) whose first row names the columns:
sku, name, width, height, depth, unit (required), file, placement, price, link, locale (optional).

1. Read: rows keep their spreadsheet numbers (the header is row 1); blank rows are ignored.
2. Validate, locally and every row at once: the values (through the API's own ProductCreate
   schema), duplicate skus (case-insensitive), and each row's file: the `file` column (a path
   relative to DIR, matched case-insensitively when not exact), else the one file under DIR whose
   stem is the sku (case-insensitive, any supported extension). Two candidates are a problem,
   never a guess. The file must be non-empty and its first bytes a format the server reads.
   `--dry-run` stops here: it lists every problem with its row number and uploads nothing.
   A real run sends nothing for the rows with problems (they are `skipped`, with the reason) and
   proceeds with the others; a catalog that cannot be read, or lacks a required column, stops it.
3. Per row, at most --jobs rows at once: create the product, or patch what differs from the
   catalog (an empty optional cell changes nothing); skip the upload when the published version
   was made from a file with the same sha256 and neither dimensions nor placement changed; else
   upload under an Idempotency-Key, follow the job to its end, and retry infrastructure failures.

Resuming: the key is derived from the sku, the file's hash, the declared dimensions and the
placement (`idempotency_key`), so a re-run after a crash or a kill gets back the job it already
started instead of making a second one, and a request resent after a dropped connection never
makes two. A job that failed for an infrastructure reason (INFRA_CODES) runs again under a key
chained to the failed job's id, so the retry is itself repeatable; a job that failed on the file
is reported, and a re-run reports it again (same key, same job) until the file or the dimensions
change. Known gap: a run killed between patching a product's dimensions and uploading leaves
the new dimensions declared on the old published model; if the file is unchanged, a re-run sees
both matching and skips it (the API does not say which dimensions the published model was made with).

Exit status: 0 when every row is ok or already published, 1 when a row failed or had a problem,
2 when the command line, the catalog or the server is unusable, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import threading
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import httpx
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn
from rich.table import Table
from rich.text import Text

from processing.ingest import sniff

from .schemas import ProductCreate

REQUIRED_COLUMNS = ("sku", "name", "width", "height", "depth", "unit")
OPTIONAL_COLUMNS = ("file", "placement", "price", "link", "locale")
STOREFRONT_COLUMNS = ("price", "link", "locale")
# Fields whose change makes the published model stale: the conversion is run with them.
MODEL_FIELDS = frozenset({"dimensions", "placement"})
# The extensions worth sending (the server decides by the bytes, see processing.ingest.sniff).
# A bare .gltf is left out: its .bin and textures must travel with it, in a zip.
MODEL_SUFFIXES = frozenset(
    {".glb", ".zip", ".obj", ".stl", ".ply", ".fbx", ".dae", ".3ds", ".step", ".stp", ".usd", ".usda", ".usdc", ".usdz"}
)
SNIFF_BYTES = 4096
# Job error codes that are not the file's fault (assets/runner.py, assets/leases.py): worth another job.
INFRA_CODES = frozenset({"INTERRUPTED", "STORAGE_UNAVAILABLE", "PUBLISH_FAILED", "INTERNAL"})
MAX_JOBS_PER_ROW = 3  # in one run: the first job and two retries after infrastructure failures
RETRY_STATUSES = frozenset({429, 502, 503, 504})
HTTP_ATTEMPTS = 5
BACKOFF_SECONDS = 0.5
POLL_SECONDS = 0.5
# All rows in flight together poll about this often: far below the API's per-key rate limit.
POLLS_PER_SECOND = 4
XLSX_HINT = "reading .xlsx needs openpyxl: pip install 'vitrine3d[xlsx]' (or save the sheet as 'CSV UTF-8')"
PATTERN_HINTS = {
    "sku": "letters, digits, '.', '_' and '-' only, starting with a letter or digit, at most 64",
    "link": "must be an http:// or https:// address",
    "locale": "must be a language tag such as en-US",
}

Status = Literal["ok", "failed", "skipped"]


# Reading the catalog ----------------------------------------------------------------------------


class CatalogError(Exception):
    """The catalog cannot be used at all: unreadable, empty, or a required column is missing."""


@dataclass(frozen=True)
class CatalogRow:
    number: int  # as the spreadsheet shows it: the header is row 1
    cells: dict[str, str]  # every known column, stripped; "" when empty or absent


def read_catalog(path: Path) -> list[CatalogRow]:
    """The data rows of a CSV or XLSX catalog; column names are matched case-insensitively."""
    if not path.is_file():
        raise CatalogError(f"{path}: no such file")
    records = _xlsx_records(path) if path.suffix.lower() in (".xlsx", ".xlsm") else _csv_records(path)
    header = next(records, None)
    if header is None:
        raise CatalogError(f"{path.name} is empty")
    columns = [name.strip().lower() for name in header[1]]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise CatalogError(f"{path.name}: the first row must name the columns; missing: {', '.join(missing)}")
    repeated = sorted({name for name in columns if name and columns.count(name) > 1})
    if repeated:
        raise CatalogError(f"{path.name}: column(s) named twice: {', '.join(repeated)}")
    known = set(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    rows = []
    for number, values in records:
        cells = dict.fromkeys(REQUIRED_COLUMNS + OPTIONAL_COLUMNS, "")
        cells |= {name: value.strip() for name, value in zip(columns, values) if name in known}
        if any(cells.values()):
            rows.append(CatalogRow(number, cells))
    return rows


def _csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CatalogError(f"{path.name} is not UTF-8 text: save it as 'CSV UTF-8'") from None
    try:
        delimiter = csv.Sniffer().sniff(text.partition("\n")[0], delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","  # a one-column header: nothing to tell
    try:
        # Spreadsheet row numbers count records, not lines (a quoted cell may hold a line break).
        yield from enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1)
    except csv.Error as exc:
        raise CatalogError(f"{path.name} is not a readable CSV file ({exc})") from None


def _xlsx_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        import openpyxl
        from openpyxl.utils.exceptions import InvalidFileException
    except ImportError:
        raise CatalogError(XLSX_HINT) from None
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise CatalogError(f"{path.name} is not a readable .xlsx file ({exc})") from None
    try:
        for number, values in enumerate(workbook.worksheets[0].iter_rows(values_only=True), start=1):
            yield number, ["" if value is None else str(value) for value in values]
    finally:
        workbook.close()


# Validating it ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A catalog row ready to send: the product as POST /v1/products takes it, and its file."""

    row: int
    product: dict
    file: Path

    @property
    def sku(self) -> str:
        return self.product["sku"]


@dataclass(frozen=True)
class Problem:
    row: int
    sku: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}" + (f" ({self.sku})" if self.sku else "") + f": {self.message}"


def validate(rows: list[CatalogRow], directory: Path) -> tuple[list[Entry], list[Problem]]:
    """Every row checked at once: the rows ready to upload, and every problem of the others."""
    files = FileIndex(directory)
    duplicates = _duplicate_skus(rows)
    entries, problems = [], []
    for row in rows:
        product, messages = _product(row.cells)
        path, file_messages = files.find(row.cells["file"], row.cells["sku"])
        messages += duplicates.get(row.number, []) + file_messages
        if messages:
            problems += [Problem(row.number, row.cells["sku"], message) for message in messages]
        else:
            entries.append(Entry(row.number, product, path))
    return entries, problems


def _product(cells: dict[str, str]) -> tuple[dict | None, list[str]]:
    """The POST /v1/products body of a row, checked by the API's own schema, or what is wrong."""
    messages = [f"{column}: missing" for column in REQUIRED_COLUMNS if not cells[column]]
    dimensions = {name: cells[name] for name in ("width", "height", "depth") if cells[name]}
    if cells["unit"]:
        dimensions["unit"] = cells["unit"].lower()
    body = {"sku": cells["sku"], "name": cells["name"], "dimensions": dimensions,
            "placement": cells["placement"].lower() or "floor"}
    body |= {name: cells[name] for name in STOREFRONT_COLUMNS if cells[name]}
    body = {name: value for name, value in body.items() if value != ""}
    try:
        product = ProductCreate.model_validate(body).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        # A missing cell is already said above, in the catalog's words.
        messages += [_describe(error, cells) for error in exc.errors() if error["type"] != "missing"]
        return None, messages
    return (None, messages) if messages else (product, [])


def _describe(error: dict, cells: dict[str, str]) -> str:
    loc = error["loc"]
    column = str(loc[-1] if loc[0] == "dimensions" and len(loc) > 1 else loc[0])
    if error["type"] == "string_pattern_mismatch":
        text = PATTERN_HINTS.get(column, "has characters that are not allowed")
    elif error["type"] == "float_parsing":
        text = "not a number"
    else:
        text = error["msg"][0].lower() + error["msg"][1:]
    value = cells.get(column, "")
    return f"{column} '{value}': {text}" if value else f"{column}: {text}"


def _duplicate_skus(rows: list[CatalogRow]) -> dict[int, list[str]]:
    """Rows sharing a sku (case-insensitive): none of them is sent, there is no telling which is right."""
    by_sku: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        if row.cells["sku"]:
            by_sku[row.cells["sku"].lower()].append(row.number)
    found = {}
    for numbers in by_sku.values():
        for number in numbers if len(numbers) > 1 else ():
            others = ", ".join(str(other) for other in numbers if other != number)
            found[number] = [f"duplicate sku (also on row {others})"]
    return found


class FileIndex:
    """The files under the supplier's folder (hidden ones aside), by relative path and by stem."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._by_path: dict[str, list[Path]] = defaultdict(list)
        self._by_stem: dict[str, list[Path]] = defaultdict(list)
        for path in sorted(directory.rglob("*")):
            relative = path.relative_to(directory)
            if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                continue
            self._by_path[relative.as_posix().lower()].append(path)
            if path.suffix.lower() in MODEL_SUFFIXES:
                self._by_stem[path.stem.lower()].append(path)

    def find(self, named: str, sku: str) -> tuple[Path | None, list[str]]:
        """The row's file, by its `file` cell or else by its sku, and what is wrong with it."""
        if named:
            wanted = PurePosixPath(named.replace("\\", "/")).as_posix()
            candidates = self._by_path.get(wanted.lower(), [])
            exact = [path for path in candidates if self._relative(path) == wanted]
            candidates = exact or candidates
            if not candidates:
                return None, [f"file '{named}' not found in {self.directory}"]
        elif sku:
            candidates = self._by_stem.get(sku.lower(), [])
            if not candidates:
                return None, [f"no file named {sku}.<extension> in {self.directory} (or name it in the file column)"]
        else:
            return None, []  # the missing sku is the problem already reported
        if len(candidates) > 1:
            names = ", ".join(self._relative(path) for path in candidates)
            return None, [f"ambiguous: {names} all match; name one in the file column"]
        return candidates[0], _file_problems(candidates[0])

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.directory).as_posix()


def _file_problems(path: Path) -> list[str]:
    if path.suffix.lower() not in MODEL_SUFFIXES:
        return [f"{path.name}: unsupported extension (use {', '.join(sorted(MODEL_SUFFIXES))}; "
                f"a .gltf or an .obj with textures goes in a .zip with them)"]
    size = path.stat().st_size
    if size == 0:
        return [f"{path.name} is empty"]
    with path.open("rb") as file:
        if sniff(file.read(SNIFF_BYTES), size) is None:
            return [f"{path.name} is not a 3D file the server reads (corrupt, or not the format its name says)"]
    return []


# Talking to the API -----------------------------------------------------------------------------


def idempotency_key(sku: str, sha256: str, product: dict, after_job: str | None = None) -> str:
    """The upload's Idempotency-Key: the same file for the same product under the same declared
    dimensions and placement always gets the same key, so a resent or re-run upload gets back its
    job. `after_job` (the id of a job that failed for an infrastructure reason) starts a new chain:
    the retry is a new job, and the retry of a re-run is that same new job."""
    material = {"sku": sku, "sha256": sha256, "dimensions": product.get("dimensions"),
                "placement": product.get("placement", "floor"), "after": after_job}
    digest = hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"batch-{digest}"


def file_sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


class RequestFailed(Exception):
    """The API answered with an error (its envelope's code and message)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class Unreachable(Exception):
    """No answer from the API, even after the retries."""


class ApiClient:
    """The /v1 calls a batch upload makes. Each is safe to repeat (reads, PATCH, a create that
    answers 409 when it already happened, uploads under an Idempotency-Key), so dropped
    connections, timeouts and 429/502/503/504 answers are retried, with backoff."""

    def __init__(self, base_url: str, key: str, transport: httpx.BaseTransport | None = None,
                 backoff: float = BACKOFF_SECONDS):
        self.base_url = base_url.rstrip("/")
        self.backoff = backoff
        self.http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(120.0, connect=10.0),
            transport=transport,
        )

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        """One call; a file in `files` is read again from its start on each retry (httpx seeks it)."""
        for attempt in range(1, HTTP_ATTEMPTS + 1):
            delay = self.backoff * 2 ** (attempt - 1)
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt == HTTP_ATTEMPTS:
                    raise Unreachable(f"{self.base_url}: {exc or type(exc).__name__}") from exc
            else:
                if response.status_code not in RETRY_STATUSES or attempt == HTTP_ATTEMPTS:
                    return response
                delay = _retry_after(response, delay)
            time.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def check_access(self) -> None:
        """Fail early, once, on a wrong URL or key rather than on every row."""
        expect(self.request("GET", "/v1/products", params={"limit": 1}), 200)


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return min(float(response.headers.get("Retry-After", default)), 60.0)
    except ValueError:
        return default


def expect(response: httpx.Response, status: int) -> dict:
    """The JSON body of an answer with the expected status; else RequestFailed with the API's code."""
    if response.status_code == status:
        return response.json()
    try:
        error = response.json()["error"]
        raise RequestFailed(str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        raise RequestFailed(f"HTTP_{response.status_code}", response.reason_phrase or "unexpected answer") from None


class _ReportingFile(io.FileIO):
    """A file that reports how far it has been read: httpx streams the multipart upload from it."""

    def __init__(self, path: Path, on_position: Callable[[int], None]):
        super().__init__(path, "rb")
        self._on_position = on_position

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self._on_position(self.tell())
        return data


# Uploading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    row: int
    sku: str
    status: Status
    detail: str


class Stopped(Exception):
    """The run is stopping (interrupted, or the server is gone): leave the job to a re-run."""


class Display:
    """Progress on stderr: one bar for the catalog, one per file in flight, a line per finished row."""

    def __init__(self, console: Console, total: int):
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TextColumn("{task.fields[phase]}"),
            console=console, transient=True,
        )
        self.overall = self.progress.add_task("catalog", total=total, phase="")

    def __enter__(self) -> Display:
        self.progress.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.progress.stop()

    def start(self, entry: Entry) -> TaskID:
        return self.progress.add_task(entry.sku, total=1.0, phase="preparing")

    def update(self, task: TaskID, phase: str, fraction: float) -> None:
        self.progress.update(task, completed=fraction, phase=phase)

    def finish(self, task: TaskID, outcome: Outcome) -> None:
        self.progress.remove_task(task)
        self.progress.advance(self.overall)
        line = f"{outcome.status:<8}row {outcome.row} {outcome.sku}: {outcome.detail}"
        self.progress.console.print(line, markup=False, highlight=False, soft_wrap=True)


@dataclass
class _Synced:
    published_sha256: str | None  # of the original behind the published version, as it was found
    created: bool
    changed: set[str]


class BatchUploader:
    """Sends the catalog's entries, --jobs at a time; each entry ends as one Outcome."""

    def __init__(self, client: ApiClient, display: Display, poll_seconds: float = POLL_SECONDS):
        self.client = client
        self.display = display
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._stop_reason = ""
        self.interrupted = False

    def run(self, entries: list[Entry], jobs: int) -> list[Outcome]:
        pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="upload")
        futures = [pool.submit(self._entry, entry) for entry in entries]
        try:
            wait(futures)
        except KeyboardInterrupt:
            self.interrupted = True
            self._halt("the run was interrupted")
        finally:
            pool.shutdown(wait=True)  # once stopped, every entry ends quickly
        return [future.result() for future in futures]

    def _halt(self, reason: str) -> None:
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()

    def _entry(self, entry: Entry) -> Outcome:
        if self._stop.is_set():
            return Outcome(entry.row, entry.sku, "skipped", f"not started: {self._stop_reason}")
        task = self.display.start(entry)
        try:
            outcome = self._send(entry, task)
        except RequestFailed as exc:
            outcome = Outcome(entry.row, entry.sku, "failed", f"{exc.code}: {exc.message}")
        except Unreachable as exc:
            self._halt("the server could not be reached")
            outcome = Outcome(entry.row, entry.sku, "failed", f"UNREACHABLE: {exc}")
        except Stopped as exc:
            outcome = Outcome(entry.row, entry.sku, "failed", f"STOPPED: {exc}")
        except OSError as exc:  # the file went away or became unreadable since the check
            outcome = Outcome(entry.row, entry.sku, "failed", f"FILE_UNREADABLE: {entry.file}: {exc.strerror}")
        self.display.finish(task, outcome)
        return outcome

    def _send(self, entry: Entry, task: TaskID) -> Outcome:
        sha256 = file_sha256(entry.file)
        synced = self._sync_product(entry)
        done = "created" if synced.created else "updated " + ", ".join(sorted(synced.changed))
        if synced.published_sha256 == sha256 and not synced.changed & MODEL_FIELDS:
            if synced.changed:
                return Outcome(entry.row, entry.sku, "ok", f"{done}; model already published from this file")
            return Outcome(entry.row, entry.sku, "skipped", "already published from this file")
        outcome = self._publish(entry, sha256, task)
        if outcome.status == "ok" and (synced.created or synced.changed):
            return Outcome(entry.row, entry.sku, "ok", f"{done}; {outcome.detail}")
        return outcome

    def _sync_product(self, entry: Entry) -> _Synced:
        """Create the product, or patch the fields that differ from the catalog."""
        path = f"/v1/products/{entry.sku}"
        response = self.client.request("GET", path)
        if response.status_code == 404:
            created = self.client.request("POST", "/v1/products", json=entry.product)
            if created.status_code != 409:  # 409: an earlier attempt made it, its answer was lost
                expect(created, 201)
                return _Synced(None, created=True, changed=set())
            response = self.client.request("GET", path)
        product = expect(response, 200)
        changed = _changed_fields(entry.product, product)
        if changed:
            expect(self.client.request("PATCH", path, json={name: entry.product[name] for name in changed}), 200)
        return _Synced(_published_sha256(product), created=False, changed=changed)

    def _publish(self, entry: Entry, sha256: str, task: TaskID) -> Outcome:
        """Upload and follow jobs until the file is published, it fails on the file, or attempts run out."""
        after = None
        for _ in range(MAX_JOBS_PER_ROW):
            job_id = self._upload(entry, idempotency_key(entry.sku, sha256, entry.product, after), task)
            job = self._follow(job_id, task)
            if job["status"] == "succeeded":
                product = expect(self.client.request("GET", f"/v1/products/{entry.sku}"), 200)
                if _published_sha256(product) == sha256:
                    return Outcome(entry.row, entry.sku, "ok", f"published (job {job_id})")
                # A job of an earlier run, since replaced by another upload: this file needs a new one.
                failure = f"SUPERSEDED: job {job_id} succeeded but another file is published"
            else:
                error = job.get("error") or {}
                failure = f"{error.get('code', 'FAILED')}: {error.get('message', 'the job failed')}"
                if error.get("code") not in INFRA_CODES:
                    return Outcome(entry.row, entry.sku, "failed", failure)
            after = job_id
        return Outcome(entry.row, entry.sku, "failed", f"{failure} (gave up after {MAX_JOBS_PER_ROW} jobs)")

    def _upload(self, entry: Entry, key: str, task: TaskID) -> str:
        size = max(entry.file.stat().st_size, 1)
        self.display.update(task, "uploading", 0.0)
        with _ReportingFile(entry.file, lambda read: self.display.update(task, "uploading", read / size)) as file:
            response = self.client.request(
                "POST", f"/v1/products/{entry.sku}/model",
                files={"file": (entry.file.name, file, "application/octet-stream")},
                headers={"Idempotency-Key": key},
            )
        return expect(response, 202)["job"]["id"]

    def _follow(self, job_id: str, task: TaskID) -> dict:
        while True:
            job = expect(self.client.request("GET", f"/v1/jobs/{job_id}"), 200)
            if job["status"] in ("succeeded", "failed"):
                return job
            self.display.update(task, job["status"], float(job.get("progress") or 0.0))
            if self._stop.wait(self.poll_seconds):
                raise Stopped(f"{self._stop_reason} while job {job_id} was {job['status']}; run again to follow it")


def _published_sha256(product: dict) -> str | None:
    return (product.get("source") or {}).get("sha256")


def _changed_fields(wanted: dict, current: dict) -> set[str]:
    """The catalog's fields that the product does not have yet (the sku aside)."""
    changed = set()
    for name, value in wanted.items():
        if name == "dimensions":
            if not _same_dimensions(value, current.get("dimensions")):
                changed.add(name)
        elif name != "sku" and current.get(name) != value:
            changed.add(name)
    return changed


def _same_dimensions(wanted: dict, current: dict | None) -> bool:
    if current is None or wanted["unit"] != current.get("unit"):
        return False
    return all(math.isclose(wanted[axis], current.get(axis, math.nan), rel_tol=1e-9)
               for axis in ("width", "height", "depth"))


# The command ------------------------------------------------------------------------------------


def run(args: argparse.Namespace, out: Console | None = None, err: Console | None = None) -> int:
    """`vitrine3d upload`: validate, then (unless --dry-run) send; the summary goes to stdout."""
    out = out or Console()
    err = err or Console(stderr=True)
    try:
        return _run(args, out, err)
    except KeyboardInterrupt:  # before the uploads start (while they run, the summary still comes)
        err.print("interrupted; run the same command again to resume", markup=False)
        return 130


def _run(args: argparse.Namespace, out: Console, err: Console) -> int:
    if not args.directory.is_dir():
        err.print(f"error: {args.directory} is not a folder", markup=False)
        return 2
    try:
        rows = read_catalog(args.catalog)
    except CatalogError as exc:
        err.print(f"error: {exc}", markup=False)
        return 2
    entries, problems = validate(rows, args.directory)
    if args.dry_run:
        return _dry_run_report(out, rows, entries, problems)

    key = args.key or os.environ.get("VITRINE_API_KEY")
    if not key:
        err.print("error: no API key: pass --key or set VITRINE_API_KEY", markup=False)
        return 2
    with ApiClient(args.api, key) as client:
        try:
            client.check_access()
        except (Unreachable, RequestFailed) as exc:
            err.print(f"error: {exc}", markup=False)
            return 2
        if problems:
            err.print(f"{len({p.row for p in problems})} row(s) with problems are skipped (see the summary)")
        with Display(err, len(entries)) as display:
            uploader = BatchUploader(client, display, max(POLL_SECONDS, args.jobs / POLLS_PER_SECOND))
            outcomes = uploader.run(entries, args.jobs)
    outcomes += _problem_outcomes(problems)
    out.print(summary_table(outcomes))
    counts = {status: sum(o.status == status for o in outcomes) for status in ("ok", "failed", "skipped")}
    out.print(", ".join(f"{count} {status}" for status, count in counts.items()), markup=False)
    if uploader.interrupted:
        return 130
    return 1 if problems or counts["failed"] else 0


def _dry_run_report(out: Console, rows: list[CatalogRow], entries: list[Entry], problems: list[Problem]) -> int:
    for problem in problems:
        out.print(str(problem), markup=False, highlight=False, soft_wrap=True)
    bad_rows = len({problem.row for problem in problems})
    out.print(f"{len(rows)} rows: {len(entries)} ready, {bad_rows} with problems "
              f"({len(problems)} in all); nothing uploaded (dry run)", markup=False, highlight=False, soft_wrap=True)
    return 1 if problems else 0


def _problem_outcomes(problems: list[Problem]) -> list[Outcome]:
    by_row: dict[int, list[Problem]] = defaultdict(list)
    for problem in problems:
        by_row[problem.row].append(problem)
    return [Outcome(row, found[0].sku, "skipped", "; ".join(p.message for p in found)) for row, found in by_row.items()]


def summary_table(outcomes: list[Outcome]) -> Table:
    table = Table(title="upload summary")
    for column in ("row", "sku", "status", "detail"):
        table.add_column(column, overflow="fold")
    style = {"ok": "green", "failed": "red", "skipped": "yellow"}
    for outcome in sorted(outcomes, key=lambda o: o.row):
        table.add_row(str(outcome.row), Text(outcome.sku), Text(outcome.status, style=style[outcome.status]),
                      Text(outcome.detail))
    return table
