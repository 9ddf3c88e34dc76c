"""The real thing: a `vitrine3d serve` process on a free port, with its catalog, objects and
scratch space in a temporary folder, and an API key made by `vitrine3d keys create`.

One server serves the whole session; models are uploaded once (`published`) and every test
reads the products it needs. Nothing here is skipped: a missing tool fails loudly.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from .browser import launch
from .cases import ModelCase, model_cases

VITRINE3D = Path(sys.executable).with_name("vitrine3d")
STARTUP_TIMEOUT = 60.0
SHUTDOWN_GRACE = 15.0
JOB_TIMEOUT = 300.0


@dataclass(frozen=True)
class Server:
    url: str
    log: Path
    api_key: str

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_answering(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            httpx.get(f"{url}/docs", timeout=2.0, trust_env=False)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"the server did not answer within {STARTUP_TIMEOUT}s:\n{log.read_text()[-4000:]}")


def _live_group_members(pgid: int) -> list[str]:
    """Command lines of the live (not zombie) processes in a process group (Linux /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = stat.with_name("cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # the process ended while we looked
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(f"{stat.parent.name}: {cmdline.strip()}")
    return members


def _stop(process: subprocess.Popen) -> list[str]:
    """Stop the server like an operator would (SIGTERM); return what had to be killed after."""
    leftovers = []
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(SHUTDOWN_GRACE)
    except subprocess.TimeoutExpired:
        leftovers.append(f"the server ignored SIGTERM for {SHUTDOWN_GRACE}s")
    # The server runs in its own process group: anything still in it is a leaked child.
    survivors = _live_group_members(process.pid)
    if survivors:
        leftovers.append("left running: " + "; ".join(survivors))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return leftovers


@contextmanager
def running_server(root: Path, settings: dict[str, str]) -> Iterator[tuple[Server, subprocess.Popen]]:
    """`vitrine3d serve` on a free loopback port with exactly these VITRINE_* settings (and its own URL as
    the public one), plus a fresh API key; stopped afterwards, and nothing it started may be left running."""
    assert VITRINE3D.is_file(), f"{VITRINE3D} is missing: run `make setup` (pip install -e '.[test]')"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # Only our settings: a developer's own VITRINE_* variables must not change what is tested.
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("VITRINE_")},
        "VITRINE_PUBLIC_BASE_URL": url,
        **settings,
    }
    log = root / "server.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [str(VITRINE3D), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_answering(url, process, log)
        created = subprocess.run(
            [str(VITRINE3D), "keys", "create"], env=env, cwd=root, capture_output=True, text=True, timeout=60
        )
        assert created.returncode == 0, f"`vitrine3d keys create` failed:\n{created.stderr}"
        key = created.stdout.strip()
        assert key and len(key.split()) == 1, f"expected the key alone on stdout, got {created.stdout!r}"
        yield Server(url=url, log=log, api_key=key), process
    finally:
        leftovers = _stop(process)
    assert not leftovers, f"unclean shutdown: {'; '.join(leftovers)}\n{log.read_text()[-4000:]}"


def embedded_settings(root: Path) -> dict[str, str]:
    """The embedded defaults' layout under `root`: catalog, stored files and jobs all in one data
    directory, as `vitrine3d serve` lays them out (a conversion's sandbox covers all of it)."""
    data = root / "data"
    return {"VITRINE_DATA_DIR": str(data), "VITRINE_DATABASE_URL": f"sqlite:///{data / 'catalog.db'}",
            "VITRINE_STORAGE_URL": f"file://{data / 'objects'}"}


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("vitrine3d")
    settings = {
        **embedded_settings(root),
        # Webhook receivers in the tests listen on loopback, and retries should not take minutes.
        "VITRINE_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "VITRINE_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
        # Tests poll jobs in tight loops with one key; the per-key limit has its own tests (tests/api/test_access.py).
        "VITRINE_API_REQUESTS_PER_MINUTE": "100000",
    }
    with running_server(root, settings) as (server, _):
        yield server


class Catalog:
    """The calls a catalog team makes, through the public HTTP API with an API key."""

    def __init__(self, server: Server):
        self.server = server
        self.http = httpx.Client(
            base_url=server.url,
            headers={"Authorization": f"Bearer {server.api_key}"},
            timeout=60.0,
            trust_env=False,  # talk to the server directly, whatever proxy the machine sets
        )

    def create_product(self, sku: str, name: str, dimensions: dict, placement: str) -> dict:
        body = {"sku": sku, "name": name, "dimensions": dimensions, "placement": placement}
        response = self.http.post("/v1/products", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def upload_model(self, sku: str, filename: str, data: bytes, form: dict[str, str]) -> str:
        response = self.http.post(f"/v1/products/{sku}/model", files={"file": (filename, data)}, data=form)
        assert response.status_code == 202, response.text
        return response.json()["job"]["id"]

    def event_totals(self, sku: str) -> dict[str, int]:
        """The product's shopper-event counts of yesterday and today: two days, not one, so a run that crosses
        midnight (UTC) still counts its own earlier visits (seen: a CI run at 23:59 compared 4 with 7)."""
        response = self.http.get(f"/v1/products/{sku}/stats", params={"days": 2})
        assert response.status_code == 200, response.text
        return response.json()["totals"]

    def wait_for_job(self, job_id: str, timeout: float = JOB_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.http.get(f"/v1/jobs/{job_id}")
            assert response.status_code == 200, response.text
            job = response.json()
            if job["status"] in ("succeeded", "failed"):
                return job
            time.sleep(0.5)
        raise AssertionError(f"job {job_id} not finished after {timeout}s:\n{self.server.log_tail()}")

    def product(self, sku: str) -> dict:
        response = self.http.get(f"/v1/products/{sku}")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="session")
def catalog(server: Server):
    client = Catalog(server)
    yield client
    client.http.close()


@dataclass(frozen=True)
class Published:
    case: ModelCase
    product: dict
    job: dict


@pytest.fixture(scope="session")
def published(catalog: Catalog) -> dict[str, Published]:
    """Every model case uploaded at once (the runner works through them), then each job awaited."""
    cases = model_cases()
    jobs = {}
    for case in cases:
        catalog.create_product(case.sku, case.name, case.dimensions, case.placement)
        jobs[case.sku] = catalog.upload_model(case.sku, case.filename, case.build(), case.form)
    results = {}
    for case in cases:
        job = catalog.wait_for_job(jobs[case.sku])
        results[case.sku] = Published(case=case, product=catalog.product(case.sku), job=job)
    return results


@pytest.fixture(scope="session")
def public_http():
    """A shopper's (or a storefront's) client: no API key."""
    with httpx.Client(timeout=60.0, trust_env=False) as client:
        yield client


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for one test module; closed after it, so a module may also drive Playwright itself."""
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()
