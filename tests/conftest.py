"""Fixtures for the API and assets tests: an app on a fresh data directory, a client, API keys.

Limits are tiny and timeouts short so every bad-input and fault case runs in about a second.
Conversions run in a real child process, but call a fake from tests/assets/fake_conversions.py
(named by `AppSettings.convert_function`) instead of the real pipeline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import AppSettings
from assets import catalog
from processing.settings import Limits
from tests.assets import fake_conversions

# Real S3 (moto), Redis and PostgreSQL servers, and a fresh bucket/database per test (issue 6).
pytest_plugins = ("tests.services",)

# The conversion process imports them by name, like the project's own packages.
FAKES = fake_conversions.__name__
MiB = 1024 * 1024
# Bytes that processing.ingest.sniff takes for a GLB: the fakes do not parse them.
GLB_BYTES = b"glTF\x02\x00\x00\x00" + b"\x00" * 64


@pytest.fixture
def app_settings(tmp_path: Path) -> AppSettings:
    return make_test_settings(tmp_path)


def make_test_settings(tmp_path: Path) -> AppSettings:
    data = tmp_path / "data"
    return AppSettings(
        data_dir=data,
        database_url=f"sqlite:///{data}/vitrine.db",
        storage_url=f"file://{data}/objects",
        public_base_url=None,
        max_upload_bytes=64 * 1024,
        job_soft_timeout=5.0,
        job_hard_timeout=6.0,
        job_memory_bytes=512 * MiB,
        job_concurrency=1,
        job_max_attempts=2,
        limits=Limits(
            archive_entries=10,
            archive_unpacked_bytes=MiB,
            gltf_json_bytes=64 * 1024,
            input_triangles=10_000,
            texture_pixels=256 * 256,
            texture_bytes_per_job=MiB,
        ),
        convert_function=FAKES + ":succeed",
        api_requests_per_minute=100_000,  # tests poll jobs fast; the limit has its own tests
    )


@dataclass
class Api:
    """A running app and a client that holds one tenant's API key, with the calls tests make."""

    client: TestClient
    key: str

    @property
    def app(self) -> FastAPI:
        return self.client.app

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def as_tenant(self, tenant: str) -> Api:
        """The same app, seen with a new key of `tenant`."""
        return Api(self.client, make_key(self.app, tenant))

    def get(self, url: str, **kwargs):
        return self.client.get(url, headers=self.headers, **kwargs)

    def create_product(self, sku: str = "SOFA-1", **fields) -> dict:
        response = self.client.post("/v1/products", json={"sku": sku, "name": "Sofa", **fields}, headers=self.headers)
        assert response.status_code == 201, response.text
        return response.json()

    def upload(self, sku: str, content: bytes = GLB_BYTES, filename: str = "model.glb", **fields):
        return self.client.post(
            f"/v1/products/{sku}/model",
            files={"file": (filename, content, "application/octet-stream")},
            data={k: str(v) for k, v in fields.items()},
            headers=self.headers,
        )

    def wait_for_job(self, job_id: str, statuses=("succeeded", "failed"), timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in statuses:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} is still {job['status']} after {timeout}s")
            time.sleep(0.02)

    def publish(self, sku: str, content: bytes = GLB_BYTES) -> dict:
        """Create the product if needed, upload `content`, wait for success; the product JSON."""
        if self.get(f"/v1/products/{sku}").status_code == 404:
            self.create_product(sku)
        response = self.upload(sku, content)
        assert response.status_code == 202, response.text
        job = self.wait_for_job(response.json()["job"]["id"])
        assert job["status"] == "succeeded", job
        return self.get(f"/v1/products/{sku}").json()

    def close(self) -> None:
        """Shut the app down (its lifespan ends: the runner stops)."""
        self.client.__exit__(None, None, None)


def make_key(app: FastAPI, tenant: str) -> str:
    with app.state.sessions() as session:
        key = catalog.create_api_key(session, tenant)
        session.commit()
    return key


@pytest.fixture
def start_api(app_settings: AppSettings):
    """Start an app (default: the test settings) and return an Api on it; shut down after the test.

    `start_api(convert_function=f"{FAKES}:hang", ...)` changes settings for that app;
    `key=` reuses a key made on an earlier app on the same database.
    """
    started: list[Api] = []

    def start(key: str | None = None, **changes) -> Api:
        client = TestClient(create_app(app_settings.model_copy(update=changes)))
        client.__enter__()
        api = Api(client, key or make_key(client.app, catalog.DEFAULT_TENANT))
        started.append(api)
        return api

    yield start
    for api in started:
        api.close()  # a no-op for those already closed


@pytest.fixture
def api(start_api) -> Api:
    """The default tenant's client on an app with the test settings."""
    return start_api()


@pytest.fixture
def other_api(api: Api) -> Api:
    """Another tenant on the same app."""
    return api.as_tenant("other-shop")
