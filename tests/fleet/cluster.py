"""A fleet on one machine: `vitrine3d serve` and `vitrine3d worker` processes on S3, PostgreSQL
and Redis, each process with its own scratch folder as if on its own machine, and what an operator
looks at (the jobs table, the bucket). Used by the fleet tests and by bench/fleet.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
from sqlalchemy import create_engine, text

from tests.services import Server, TcpProxy, free_port, wait_for_port

VITRINE3D = Path(sys.executable).with_name("vitrine3d")
PREFIX = "catalog"

# Faults heal in seconds: short leases, retry delays and reconciler passes.
FAST_RECOVERY = {
    "VITRINE_JOB_LEASE_SECONDS": "3",
    "VITRINE_JOB_RETRY_DELAY": "3",
    "VITRINE_RECONCILE_SECONDS": "0.5",
    "VITRINE_JOB_MAX_ATTEMPTS": "3",
    # The tests poll jobs in tight loops with one key; the per-key limit is tested in tests/api/test_access.py.
    "VITRINE_API_REQUESTS_PER_MINUTE": "100000",
}


def fleet_env(database_url: str, bucket: str, s3_endpoint: str, redis_url: str) -> dict[str, str]:
    """The environment of every fleet process: only settings say where the shared parts are."""
    env = {
        **os.environ,
        **FAST_RECOVERY,
        "VITRINE_DATABASE_URL": database_url,
        "VITRINE_STORAGE_URL": f"s3://{bucket}/{PREFIX}",
        "VITRINE_S3_ENDPOINT_URL": s3_endpoint,
        "VITRINE_QUEUE_URL": redis_url,
    }
    env.pop("VITRINE_PUBLIC_BASE_URL", None)  # objects by presigned URLs
    return env


class Fleet:
    def __init__(self, root: Path, env: dict[str, str], redis: Server, proxy: TcpProxy, bucket: str, s3_url: str):
        self.root, self.env, self.redis, self.proxy = root, env, redis, proxy
        self.bucket, self.s3_url = bucket, s3_url
        self.api: subprocess.Popen | None = None
        self.api_url = ""
        self.workers: dict[str, subprocess.Popen] = {}
        self.db = create_engine(env["VITRINE_DATABASE_URL"])
        self.s3 = boto3.client("s3", endpoint_url=s3_url)
        self.key = ""
        self.http = httpx.Client(timeout=30.0)

    # Processes ---------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        env = {**self.env, "VITRINE_DATA_DIR": str(self.root / name)}
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - the process owns it
        return subprocess.Popen(
            [str(VITRINE3D), *argv], env=env, cwd=self.root, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True,
        )

    def start_api(self) -> None:
        port = int(self.api_url.rsplit(":", 1)[1]) if self.api_url else free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        self.api = self._spawn("api", ["serve", "--host", "127.0.0.1", "--port", str(port)])
        wait_for_port(port, self.api, self.root / "api.log", "vitrine3d serve")
        if not self.key:
            created = subprocess.run(
                [str(VITRINE3D), "keys", "create"], env=self.env, cwd=self.root, capture_output=True, text=True, timeout=60
            )
            assert created.returncode == 0, created.stderr
            self.key = created.stdout.strip()
            self.http.headers["Authorization"] = f"Bearer {self.key}"

    def stop_api(self) -> None:
        _stop(self.api)

    def start_worker(self, name: str) -> subprocess.Popen:
        self.workers[name] = self._spawn(name, ["worker", "--name", f"{name}-{time.monotonic_ns()}"])
        return self.workers[name]

    def stop_workers(self) -> None:
        for process in self.workers.values():
            _stop(process)

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")[-4000:]

    # The API, as a catalog team uses it ---------------------------------------------------------

    def create_product(self, sku: str) -> None:
        # No declared dimensions: the models here are of all shapes; the unit is read or guessed.
        response = self.http.post(f"{self.api_url}/v1/products", json={"sku": sku, "name": sku.title()})
        assert response.status_code == 201, response.text

    def upload(self, sku: str, filename: str, data: bytes) -> str:
        response = self.http.post(f"{self.api_url}/v1/products/{sku}/model", files={"file": (filename, data)})
        assert response.status_code == 202, response.text
        return response.json()["job"]["id"]

    def job(self, job_id: str) -> dict:
        response = self.http.get(f"{self.api_url}/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def product(self, sku: str) -> dict:
        response = self.http.get(f"{self.api_url}/v1/products/{sku}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for(self, job_ids: list[str], timeout: float = 600.0) -> dict[str, dict]:
        deadline = time.monotonic() + timeout
        pending, done = set(job_ids), {}
        while pending:
            for job_id in list(pending):
                job = self.job(job_id)
                if job["status"] in ("succeeded", "failed"):
                    done[job_id] = job
                    pending.discard(job_id)
            if time.monotonic() > deadline:
                states = {j: self.job(j)["status"] for j in pending}
                raise AssertionError(f"jobs not finished after {timeout}s: {states}\n{self.log('api')}")
            time.sleep(0.2)
        return done

    # What an operator looks at ------------------------------------------------------------------

    def rows(self, sql: str, **params) -> list:
        with self.db.connect() as connection:
            return list(connection.execute(text(sql), params))

    def bucket_keys(self, prefix: str) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"{PREFIX}/{prefix}")
        return {item["Key"][len(PREFIX) + 1 :] for page in pages for item in page.get("Contents", [])}

    def close(self) -> None:
        self.stop_workers()
        self.stop_api()
        self.http.close()
        self.db.dispose()


def _stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
