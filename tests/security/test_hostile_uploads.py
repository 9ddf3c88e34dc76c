"""Every hostile upload of `hostile.CASES`, through the real HTTP API of a real `vitrine3d serve`.

One server (tiny limits, two conversions at a time) serves the whole module. A product is
published first with a plain model; then every case is uploaded at once, each to a product of its
own (a few also onto the published product), and every job is awaited together — the runner works
through them while the test keeps reading the published product, so "the API keeps answering" is
measured under that load. Each case then asserts its own outcome and the invariants of
SECURITY.md:

1. the canaries' secret (files beside the data directory, in it, and beside every job's scratch
   folder) appears in no HTTP body, published file, server log or catalog row;
2. nothing connected to the addresses the case named (each case has a listener of its own);
3. its job left no scratch folder and no process behind;
4. the published product kept answering while it ran;
5. its error is one envelope with a stable code, no traceback, server path or file content;
6. nothing else changed: the published product's files and version are untouched.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import selectors
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Catalog, Server, embedded_settings, running_server

from .hostile import CASES, LIMITS_ENV, ONTO_PUBLISHED, Case, Ctx, box_glb

SUITE_TIMEOUT = 420.0  # a guard against a hung job, not a target
HEALTH_LATENCY = 10.0  # seconds a read of the published product may take while bombs are handled
SCRATCH_GRACE = 3.0
PUBLISHED_SKU = "published-chair"
PUBLISHED_FIELDS = ("assets", "dimensions_m", "view_url")
POLLED_AT_ONCE = 6  # the runner takes jobs oldest first: polling the oldest few is enough
TRACEBACK_MARKERS = ("Traceback", 'File "', ".py\"", "site-packages", "Exception:", "Error:")


class Listeners:
    """One listening socket per case on 127.0.0.1; records every connection made to any of them."""

    def __init__(self, names: list[str]):
        self.selector = selectors.DefaultSelector()
        self.address: dict[str, str] = {}
        self.connections: dict[str, list[bytes]] = {}
        self._sockets = []
        for name in names:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(8)
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ, name)
            self.address[name] = f"127.0.0.1:{sock.getsockname()[1]}"
            self._sockets.append(sock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            for key, _ in self.selector.select(0.1):
                try:
                    conn, _ = key.fileobj.accept()
                except BlockingIOError:
                    continue
                conn.settimeout(0.5)
                try:
                    first = conn.recv(200)
                except OSError:
                    first = b""
                self.connections.setdefault(key.data, []).append(first)
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self._sockets:
            sock.close()


@dataclass
class Outcome:
    """What happened to one case: the upload's answer and, for a job, how it ended."""

    status: int = 0
    body: dict | str = ""
    job: dict | None = None
    job_id: str | None = None
    sku: str = ""
    scratch_left: list[str] = field(default_factory=list)
    processes_left: list[str] = field(default_factory=list)
    product: dict | None = None
    extra: list[str] = field(default_factory=list)  # violations found while sending (retry mismatch...)


@dataclass
class SuiteRun:
    root: Path
    secret: str
    server: Server
    outcomes: dict[str, Outcome]
    onto_published: dict[str, Outcome]
    listeners: Listeners
    health_failures: list[str]
    leaks: list[str]
    published_before: dict
    published_after: dict
    objects_before: dict[str, str]
    objects_after: dict[str, str]
    leftover_processes: list[str]


# --- sending ------------------------------------------------------------------------------------

def _multipart(parts: list[tuple[str, str | None, bytes]], boundary: str, close: bool = True) -> bytes:
    out = []
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n")
    if close:
        out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def _send(http: httpx.Client, case: Case, sku: str, data: bytes) -> tuple[httpx.Response, list[str]]:
    """Upload `data` the way `case.send` says; returns the (last) response and any violation seen."""
    url = f"/v1/products/{sku}/model"
    boundary = uuid.uuid4().hex
    content_type = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    file_part = ("file", case.filename, data)
    bodies = {
        "many_parts": [*((f"extra{i}", None, b"x") for i in range(20)), file_part],
        "huge_field": [("unit", None, b"c" * 100_000), file_part],
        "no_file": [("unit", None, b"cm")],
        "two_files": [file_part, file_part],
        "wrong_field": [("model", case.filename, data)],
    }
    if case.send == "file":
        return http.post(url, files={"file": (case.filename, data)}), []
    if case.send in bodies:
        return http.post(url, content=_multipart(bodies[case.send], boundary), headers=content_type), []
    if case.send == "unterminated":
        return http.post(url, content=_multipart([file_part], boundary, close=False), headers=content_type), []
    if case.send == "raw_body":
        return http.post(url, content=data, headers={"Content-Type": "application/octet-stream"}), []
    if case.send == "chunked":
        body = _multipart([file_part], boundary)
        chunks = (body[i:i + 16384] for i in range(0, len(body), 16384))  # no Content-Length: chunked
        return http.post(url, content=chunks, headers=content_type), []
    if case.send == "retry":
        key = {"Idempotency-Key": f"retry-{uuid.uuid4().hex}"}
        first = http.post(url, files={"file": (case.filename, data)}, headers=key)
        again = http.post(url, files={"file": (case.filename, data)}, headers=key)
        problems = []
        if first.status_code != 202 or again.status_code != 202 or first.json()["job"]["id"] != again.json()["job"]["id"]:
            problems.append(f"a retried upload made another job: {first.text} / {again.text}")
        return again, problems
    raise ValueError(f"unknown send mode {case.send}")


def _body(response: httpx.Response) -> dict | str:
    try:
        return response.json()
    except ValueError:
        return response.text


# --- inspecting the server's side ---------------------------------------------------------------

def _processes_mentioning(text: str, exclude: int) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in line and int(cmdline.parent.name) not in (exclude, os.getpid()):
            found.append(f"{cmdline.parent.name}: {line.strip()}")
    return found


def _scratch_of(root: Path, job_id: str) -> list[str]:
    return [p.name for p in (root / "data" / "jobs").glob(f"{job_id}*")]


def _digest_tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _published_state(http: httpx.Client) -> dict:
    """What a shopper gets of the published product: its asset URLs, measured size, the files."""
    answer = http.get(f"/v1/products/{PUBLISHED_SKU}").json()
    product = {key: answer.get(key) for key in PUBLISHED_FIELDS}
    files = {}
    for kind, url in sorted((product.get("assets") or {}).items()):
        if isinstance(url, str) and url.startswith("http"):
            files[kind] = hashlib.sha256(http.get(url).content).hexdigest()
    return {"product": product, "files": files}


def _secret_leaks(root: Path, secret: str, canaries: tuple[Path, ...]) -> list[str]:
    """Every file under the server's folder (catalog, objects, log, scratch) holding the secret."""
    needle = secret.encode()
    leaks = []
    for path in root.rglob("*"):
        if path.is_file() and path not in canaries and needle in path.read_bytes():
            leaks.append(str(path.relative_to(root)))
    return leaks


# --- the run ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hostile")
    secret = f"CANARY-{secrets.token_hex(16)}"
    listeners = Listeners([case.name for case in CASES])  # first: the server's port is then not one of theirs
    settings = {
        **embedded_settings(root),
        "VITRINE_JOB_CONCURRENCY": "2",
        "VITRINE_JOB_SOFT_TIMEOUT": "60",
        "VITRINE_JOB_HARD_TIMEOUT": "70",
        "VITRINE_JOB_MEMORY_BYTES": str(3 * 1024**3),
        "VITRINE_API_REQUESTS_PER_MINUTE": "1000000",  # the test polls ~150 jobs at once
        **LIMITS_ENV,
    }
    (root / "data").mkdir()
    try:
        with running_server(root, settings) as (server, process):
            # The runner empties data/jobs when it starts: the canaries go in once it has.
            canaries = Ctx(root / "canary.txt", root / "data" / "canary.txt", root / "data" / "jobs" / "canary.txt",
                           listener="")
            for path in canaries.canaries:
                path.write_text(f"{secret}\n")
            catalog = Catalog(server)
            try:
                yield _run(root, secret, server, catalog, listeners, canaries, process.pid)
            finally:
                catalog.http.close()
    finally:
        listeners.close()


def _run(root: Path, secret: str, server: Server, catalog: Catalog, listeners: Listeners, canaries: Ctx,
         server_pid: int) -> SuiteRun:
    http = catalog.http
    catalog.create_product(PUBLISHED_SKU, "Chair", {"width": 50, "height": 50, "depth": 50, "unit": "cm"}, "floor")
    first = catalog.wait_for_job(catalog.upload_model(PUBLISHED_SKU, "chair.glb", box_glb(), {}), timeout=120)
    assert first["status"] == "succeeded", first
    published_before = _published_state(http)
    objects_before = _digest_tree(root / "data" / "objects")

    outcomes: dict[str, Outcome] = {}
    onto_published: dict[str, Outcome] = {}
    in_upload_order: list[Outcome] = []
    for index, case in enumerate(CASES):
        ctx = Ctx(*canaries.canaries, listener=listeners.address[case.name])
        data = case.build(ctx)
        targets = [(outcomes, f"h{index:03d}-{case.name}"[:64])]
        if case.name in ONTO_PUBLISHED:
            targets.append((onto_published, PUBLISHED_SKU))
        for table, sku in targets:
            if sku != PUBLISHED_SKU:  # no declared dimensions: the odd-but-safe models keep their own size
                created = http.post("/v1/products", json={"sku": sku, "name": case.name, "placement": "floor"})
                assert created.status_code == 201, created.text
            try:
                response, problems = _send(http, case, sku, data)
            except httpx.TransportError as exc:
                table[case.name] = Outcome(status=-1, body=f"transport error: {exc!r}", sku=sku)
                continue
            outcome = Outcome(status=response.status_code, body=_body(response), sku=sku, extra=problems)
            if response.status_code == 202:
                outcome.job_id = response.json()["job"]["id"]
            table[case.name] = outcome
            in_upload_order.append(outcome)

    health_failures = _await_jobs(root, http, in_upload_order, server_pid)
    for outcome in outcomes.values():
        outcome.product = http.get(f"/v1/products/{outcome.sku}").json()
    return SuiteRun(
        root=root, secret=secret, server=server, outcomes=outcomes, onto_published=onto_published,
        listeners=listeners, health_failures=health_failures,
        leaks=_secret_leaks(root, secret, canaries.canaries),
        published_before=published_before, published_after=_published_state(http),
        objects_before=objects_before, objects_after=_digest_tree(root / "data" / "objects"),
        leftover_processes=_processes_mentioning(str(root), exclude=server_pid),
    )


def _await_jobs(root: Path, http: httpx.Client, outcomes: list[Outcome], server_pid: int) -> list[str]:
    """Poll every job to its end, reading the published product between polls; returns slow or
    failed reads of it."""
    pending = [o for o in outcomes if o.job_id]
    health_failures = []
    deadline = time.monotonic() + SUITE_TIMEOUT
    while pending and time.monotonic() < deadline:
        started = time.monotonic()
        health = http.get(f"/v1/products/{PUBLISHED_SKU}")
        took = time.monotonic() - started
        if health.status_code != 200 or took > HEALTH_LATENCY:
            health_failures.append(f"GET the published product: {health.status_code} after {took:.1f}s")
        for outcome in pending[:POLLED_AT_ONCE]:
            answer = http.get(f"/v1/jobs/{outcome.job_id}")
            assert answer.status_code == 200, f"GET a job: {answer.status_code} {answer.text}"
            job = answer.json()
            if job.get("status") in ("succeeded", "failed"):
                outcome.job = job
                pending.remove(outcome)
                outcome.scratch_left = _settled(lambda: _scratch_of(root, outcome.job_id))
                outcome.processes_left = _settled(lambda: _processes_mentioning(outcome.job_id, server_pid))
        time.sleep(0.5)
    for outcome in pending:
        outcome.job = {"status": "unfinished", "error": {"code": "NO_TERMINAL_STATE", "message": ""}}
    return health_failures


def _settled(look) -> list:
    """What `look` finds, given the runner a moment to clean up after a published job."""
    deadline = time.monotonic() + SCRATCH_GRACE
    while (found := look()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


# --- the one test -------------------------------------------------------------------------------

def _assert_clean_message(text: str, run: SuiteRun) -> None:
    assert run.secret not in text, "the canary's secret is in an answer"
    assert str(run.root) not in text and "/tmp/" not in text and "/work/" not in text, f"a server path: {text}"
    assert not any(marker in text for marker in TRACEBACK_MARKERS), f"a traceback: {text}"


def _assert_envelope(body, code: str, run: SuiteRun) -> None:
    assert isinstance(body, dict) and set(body) == {"error"}, f"not the error envelope: {body}"
    assert body["error"]["code"] == code, body
    assert re.fullmatch(r"[A-Z][A-Z0-9_]+", body["error"]["code"])
    _assert_clean_message(body["error"]["message"], run)


def _assert_outcome(case: Case, outcome: Outcome, run: SuiteRun) -> None:
    assert outcome.status == case.expect_status, f"upload answered {outcome.status}: {outcome.body}"
    assert not outcome.extra, outcome.extra
    _assert_clean_message(str(outcome.body), run)
    if case.expect_status != 202:
        _assert_envelope(outcome.body, case.expect_code, run)
        return
    job = outcome.job
    if case.expect_code is None:
        assert job["status"] == "succeeded", f"job failed: {job.get('error')}"
    else:
        assert job["status"] == "failed", f"job {job['status']}, expected {case.expect_code}"
        _assert_envelope({"error": job["error"]}, case.expect_code, run)
    _assert_clean_message(str(job), run)
    assert not outcome.scratch_left, f"scratch folders left: {outcome.scratch_left}"
    assert not outcome.processes_left, f"processes left: {outcome.processes_left}"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_upload(case: Case, suite: SuiteRun):
    _assert_outcome(case, suite.outcomes[case.name], suite)
    if case.name in suite.onto_published:
        _assert_outcome(case, suite.onto_published[case.name], suite)
    product = suite.outcomes[case.name].product or {}
    if case.expect_code is not None and case.send != "retry":
        assert not product.get("assets"), "a refused upload published something"
    assert not suite.listeners.connections.get(case.name), (
        f"connections were made to the address the case named: {suite.listeners.connections[case.name]}")
    # Invariants of the whole run, asserted for every case: any one breaking fails them all.
    assert not suite.leaks, f"the canary's secret was written to: {suite.leaks}"
    assert not suite.health_failures, suite.health_failures
    assert not suite.leftover_processes, suite.leftover_processes
    assert suite.published_after == suite.published_before, "the published product changed"
    assert suite.published_before["files"], "the published product has no files to compare"
    assert all(suite.objects_after.get(name) == digest for name, digest in suite.objects_before.items()), (
        "a published object was changed or removed")
