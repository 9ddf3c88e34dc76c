"""The fleet under faults: a worker killed mid-job, S3 down during a publish, the API restarted
with jobs queued and Redis emptied. Every job still ends once, each product is published exactly
once, and the bucket holds nothing that no version lists.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.processing import inputs
from tests.services import start_redis

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "models"


def _models() -> dict[str, tuple[str, bytes]]:
    """Ten uploads: small models built here, and a few real ones from the shared corpus."""
    assert CORPUS.is_dir(), f"the shared corpus is missing at {CORPUS}"
    return {
        "SIDEBOARD": ("sideboard.zip", inputs.textured_obj_zip(size=(2.0, 1.0, 0.8))),
        "CUBE": ("cube.zip", inputs.textured_obj_zip(size=(1.0, 1.0, 1.0))),
        "BALL": ("ball.glb", inputs.textured_glb(inputs.sphere(3))),
        "GLOBE": ("globe.glb", inputs.textured_glb(inputs.sphere(4))),
        "KNOB": ("knob.stl", inputs.binary_stl(inputs.sphere(3))),
        "LAMP": ("lamp.stl", inputs.binary_stl(inputs.sphere(4, radius=0.3))),
        "DUCK": ("Duck.glb", (CORPUS / "duck/Duck.glb").read_bytes()),
        "CRATE": ("BoxTextured.glb", (CORPUS / "boxtextured/BoxTextured.glb").read_bytes()),
        "SUZANNE": ("suzanne.ply", (CORPUS / "suzanne/suzanne.ply").read_bytes()),
        "FANDISK": ("fandisk.obj", (CORPUS / "fandisk/fandisk.obj").read_bytes()),
    }


def _upload_all(fleet, models: dict[str, tuple[str, bytes]]) -> dict[str, str]:
    for sku in models:
        fleet.create_product(sku)
    return {sku: fleet.upload(sku, filename, data) for sku, (filename, data) in models.items()}


def _running_job_of(fleet, worker_pid: int, timeout: float = 120.0) -> str:
    """A job the worker is converting (claimed, progress started, not yet publishing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = fleet.rows(
            "SELECT id FROM jobs WHERE status = 'running' AND lease_owner LIKE :owner AND progress > 0 AND progress < 0.7",
            owner=f"%:{worker_pid}",
        )
        if rows:
            return rows[0][0]
        time.sleep(0.05)
    raise AssertionError(f"worker {worker_pid} never got a job:\n{fleet.log('worker-a')}")


def _conversions_of(worker_dir: Path) -> list[int]:
    """Live conversion processes that work in a worker's scratch folder."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
            state = cmdline.with_name("stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"assets.child" in args and any(str(worker_dir).encode() in a for a in args) and state != "Z":
            pids.append(int(cmdline.parent.name))
    return pids


def _object_paths(assets: dict[str, str]) -> dict[str, str]:
    """The objects behind asset URLs (presigned URLs differ per request; the objects do not)."""
    return {kind: urlsplit(url).path for kind, url in assets.items()}


def _assert_published_once_and_no_orphans(fleet) -> None:
    per_product = fleet.rows("SELECT product_id, count(*) FROM versions GROUP BY product_id")
    assert per_product and all(count == 1 for _, count in per_product), per_product
    assert fleet.rows("SELECT count(*) FROM products WHERE published_version_id IS NULL")[0][0] == 0
    listed = {key for (key,) in fleet.rows("SELECT key FROM version_objects")}
    assert fleet.bucket_keys("objects/") == listed
    manifests = {f"manifests/{job}-{attempt}.json" for job, attempt in fleet.rows(
        "SELECT v.job_id, j.attempts FROM versions v JOIN jobs j ON j.id = v.job_id"
    )}
    assert fleet.bucket_keys("manifests/") == manifests


def test_a_killed_worker_loses_no_job_and_nothing_is_published_twice(fleet):
    jobs = _upload_all(fleet, _models())

    victim = fleet.workers["worker-a"]
    job_id = _running_job_of(fleet, victim.pid)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    deadline = time.monotonic() + 5
    while _conversions_of(fleet.root / "worker-a") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _conversions_of(fleet.root / "worker-a") == [], "the killed worker's conversion outlived it"
    fleet.start_worker("worker-c")  # the machine comes back

    done = fleet.wait_for(list(jobs.values()))
    assert {job["status"] for job in done.values()} == {"succeeded"}, done
    [(attempts, owner)] = fleet.rows("SELECT attempts, lease_owner FROM jobs WHERE id = :id", id=job_id)
    assert attempts == 2 and owner is None  # run again after the lease lapsed, then released
    _assert_published_once_and_no_orphans(fleet)

    product = fleet.product("DUCK")
    glb = fleet.http.get(product["assets"]["glb"])  # a presigned URL, read straight from the bucket
    assert glb.status_code == 200 and glb.content[:4] == b"glTF"
    assert glb.headers["content-type"] == "model/gltf-binary"
    assert glb.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_s3_down_during_a_publish_fails_retryably_and_the_old_version_stays(fleet):
    fleet.create_product("SOFA")
    first = fleet.wait_for([fleet.upload("SOFA", "sofa.zip", inputs.textured_obj_zip())])
    assert [job["status"] for job in first.values()] == ["succeeded"]
    before = fleet.product("SOFA")["assets"]

    job_id = fleet.upload("SOFA", "bunny.ply", (CORPUS / "bunny/bunny.ply").read_bytes())
    while fleet.job(job_id)["status"] != "running" or fleet.job(job_id)["progress"] == 0:
        time.sleep(0.02)  # converting: the original is already read, the publish is ahead
    fleet.proxy.stop()
    try:
        deadline = time.monotonic() + 90
        while (job := fleet.job(job_id))["status"] != "queued":
            assert job["status"] == "running" and time.monotonic() < deadline, job
            time.sleep(0.05)
        assert job["error"]["code"] == "PUBLISH_FAILED", job  # failed, retryably: queued again
        # The catalog never left the old version.
        assert _object_paths(fleet.product("SOFA")["assets"]) == _object_paths(before)
    finally:
        fleet.proxy.start()

    old_glb = fleet.http.get(before["glb"])
    assert old_glb.status_code == 200 and old_glb.content[:4] == b"glTF"  # the previous version serves
    done = fleet.wait_for([job_id])[job_id]
    assert done["status"] == "succeeded" and "error" not in done, done
    assert fleet.rows("SELECT attempts FROM jobs WHERE id = :id", id=job_id) == [(2,)]
    after = fleet.product("SOFA")["assets"]
    assert _object_paths(after)["glb"] != _object_paths(before)["glb"]
    assert fleet.http.get(after["glb"]).status_code == 200


def test_restarting_the_api_and_losing_redis_loses_no_queued_job(fleet):
    fleet.stop_workers()
    models = dict(list(_models().items())[:2])
    jobs = _upload_all(fleet, models)
    # Queued in the table and in Redis; now the API restarts and Redis comes back empty.
    fleet.stop_api()
    port = int(fleet.redis.url.rsplit(":", 1)[1])
    fleet.redis.stop()
    fleet.start_api()
    # Redis is down: an upload still succeeds, its job waits in the table.
    fleet.create_product("LATE")
    jobs["LATE"] = fleet.upload("LATE", "late.glb", inputs.textured_glb())
    assert fleet.job(jobs["LATE"])["status"] == "queued"
    fleet.redis = start_redis(fleet.root / "redis-again", port=port)
    fleet.start_worker("worker-a")
    fleet.start_worker("worker-b")

    done = fleet.wait_for(list(jobs.values()))
    assert {job["status"] for job in done.values()} == {"succeeded"}, done
    _assert_published_once_and_no_orphans(fleet)
