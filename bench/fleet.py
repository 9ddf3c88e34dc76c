"""The fleet's throughput and the API's latency under load: run by hand, not a test.

    make setup services && .venv/bin/python bench/fleet.py [--uploads 20] [--workers 1 2] [--rate 200]

For each worker count: a fresh fleet on one machine (API + N `vitrine3d worker` processes on S3
(moto), PostgreSQL and Redis, as in tests/fleet), then `--uploads` uploads of the shared corpus's
models at once. Measured: jobs per minute (first upload to last job finished), and the latency of
GET /v1/products/{sku} from an open-loop load generator on loopback sending `--rate` requests per
second while the jobs run (stops when they are done, or at --max-seconds). Prints a table and
writes bench/results/fleet.json. The machine is shared: compare figures from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import zipfile
from io import BytesIO
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "models"
sys.path.insert(0, str(ROOT))

from tests.fleet.cluster import Fleet, fleet_env  # noqa: E402
from tests.services import (  # noqa: E402
    FAKE_AWS,
    create_bucket,
    create_database,
    start_postgres,
    start_redis,
    start_s3,
)

# What the pipeline takes (STEP is not converted; the stress models are for bench/convert_corpus.py).
FORMATS = {".glb", ".obj", ".ply", ".stl", ".zip"}


def corpus_uploads(count: int) -> list[tuple[str, bytes]]:
    """`count` uploads, cycling through the corpus models (OBJ zipped with its MTL and textures)."""
    models = []
    for folder in sorted(CORPUS.iterdir()):
        files = sorted(p for p in folder.iterdir() if p.is_file())
        if any(p.suffix.lower() == ".obj" for p in files):
            buffer = BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                for path in files:
                    archive.write(path, path.name)
            models.append((f"{folder.name}.zip", buffer.getvalue()))
        else:
            models += [(p.name, p.read_bytes()) for p in files if p.suffix.lower() in FORMATS]
    if not models:
        raise SystemExit(f"no corpus models under {CORPUS}")
    return [models[i % len(models)] for i in range(count)]


async def load(url: str, headers: dict, rate: float, stop: asyncio.Event, max_seconds: float) -> tuple[list[float], int]:
    """GET `url` `rate` times a second (open loop: a slow answer does not delay the next request)."""
    latencies: list[float] = []
    errors = 0

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            response = await client.get(url, headers=headers)
            if response.status_code != 200:
                errors += 1
        except httpx.HTTPError:
            errors += 1
            return
        latencies.append(time.perf_counter() - started)

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
        tasks = []
        start = time.perf_counter()
        n = 0
        while not stop.is_set() and time.perf_counter() - start < max_seconds:
            tasks.append(asyncio.create_task(one(client)))
            n += 1
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        await asyncio.gather(*tasks)
    return latencies, errors


def wait_in_table(fleet: Fleet, job_ids: list[str], max_seconds: float) -> dict[str, dict]:
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        rows = fleet.rows("SELECT id, status FROM jobs WHERE status IN ('succeeded', 'failed')")
        finished = {job_id: {"status": status} for job_id, status in rows if job_id in job_ids}
        if len(finished) == len(job_ids):
            return finished
        time.sleep(0.5)
    raise SystemExit(f"jobs not finished within {max_seconds}s")


async def run_jobs(fleet: Fleet, uploads: list[tuple[str, bytes]], rate: float, max_seconds: float) -> dict:
    fleet.create_product("BENCH-PROBE")
    probe = fleet.upload("BENCH-PROBE", "probe.glb", (CORPUS / "boxtextured/BoxTextured.glb").read_bytes())
    fleet.wait_for([probe], timeout=max_seconds)  # a published product for the load to read
    for n in range(len(uploads)):
        fleet.create_product(f"BENCH-{n}")

    stop = asyncio.Event()
    load_task = asyncio.create_task(
        load(f"{fleet.api_url}/v1/products/BENCH-PROBE", dict(fleet.http.headers), rate, stop, max_seconds)
    )
    started = time.monotonic()
    # Uploads in a thread: the load generator keeps its pace meanwhile.
    jobs = await asyncio.to_thread(lambda: [fleet.upload(f"BENCH-{n}", name, data) for n, (name, data) in enumerate(uploads)])
    # Read from the jobs table: the API is the thing under load, its answers may be slow.
    done = await asyncio.to_thread(wait_in_table, fleet, jobs, max_seconds)
    elapsed = time.monotonic() - started
    stop.set()
    latencies, errors = await load_task
    latencies.sort()
    return {
        "jobs": len(jobs),
        "succeeded": sum(job["status"] == "succeeded" for job in done.values()),
        "seconds": round(elapsed, 1),
        "jobs_per_minute": round(len(jobs) / elapsed * 60, 2),
        "requests": len(latencies) + errors,
        "request_errors": errors,
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1) if latencies else None,
        "achieved_rate": round((len(latencies) + errors) / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rate", type=float, default=200.0, help="GET /v1/products/{sku} per second")
    parser.add_argument("--max-seconds", type=float, default=1200.0, help="bound on each run")
    args = parser.parse_args()

    for name, value in FAKE_AWS.items():
        os.environ.setdefault(name, value)
    uploads = corpus_uploads(args.uploads)
    results = []
    with tempfile.TemporaryDirectory(prefix="vitrine-bench-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        s3, redis, postgres = start_s3(root), start_redis(root), start_postgres(root / "pg")
        try:
            for workers in args.workers:
                run_root = root / f"workers-{workers}"
                run_root.mkdir()
                bucket = create_bucket(s3.url)
                env = fleet_env(create_database(postgres.url), bucket, s3.url, f"{redis.url}/{workers}")
                # The load generator is one key at --rate: measure latency, not the per-key limit's 429s.
                env["VITRINE_API_REQUESTS_PER_MINUTE"] = str(int(args.rate * 60 * 2))
                fleet = Fleet(run_root, env, redis, None, bucket, s3.url)
                try:
                    fleet.start_api()
                    for n in range(workers):
                        fleet.start_worker(f"worker-{n}")
                    result = {"workers": workers, **asyncio.run(run_jobs(fleet, uploads, args.rate, args.max_seconds))}
                finally:
                    fleet.close()
                results.append(result)
                print(json.dumps(result), file=sys.stderr)
        finally:
            for server in (s3, redis, postgres):
                server.stop()

    header = f"{'workers':>7} {'jobs':>5} {'ok':>4} {'seconds':>8} {'jobs/min':>9} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    print(header)
    for r in results:
        print(
            f"{r['workers']:>7} {r['jobs']:>5} {r['succeeded']:>4} {r['seconds']:>8} {r['jobs_per_minute']:>9} "
            f"{r['achieved_rate']:>7} {r['p50_ms']!s:>8} {r['p99_ms']!s:>8} {r['request_errors']:>7}"
        )
    out = ROOT / "bench" / "results" / "fleet.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"uploads": args.uploads, "rate": args.rate, "results": results}, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
