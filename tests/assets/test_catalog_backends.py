"""The catalog on SQLite and on a real PostgreSQL alike: migrations, claims, leases and fencing."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, update

from assets import catalog, leases
from assets.db import downgrade, make_engine, make_session_factory, migrate
from assets.models import Base, Job, Product, Upload, Version, utcnow
from assets.publish import publish
from assets.storage import LocalStorage


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/catalog.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(database_url: str):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine):
    migrate(engine)
    return make_session_factory(engine)


def test_migrations_build_exactly_the_models_and_undo_cleanly(engine):
    migrate(engine)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    migrate(engine)  # a second run is a no-op
    assert "jobs" in inspect(engine).get_table_names()


def test_a_catalog_from_before_migrations_is_adopted(engine):
    """Tables made by the foundation's create_all (revision 0001's schema) are stamped, then upgraded."""
    migrate(engine, "0001")
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE alembic_version")
    migrate(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("jobs")}
    assert {"lease_owner", "lease_expires", "not_before", "enqueued"} <= columns


def _queue_job(sessions, sku: str = "SOFA-1") -> str:
    with sessions() as session:
        product = catalog.get_product(session, "default", sku) or catalog.create_product(
            session, Product(tenant="default", sku=sku, name="Sofa")
        )
        upload = Upload(id=catalog.new_id(), product_id=product.id, storage_key="uploads/x", sha256="0", size=1, filename="f")
        job = catalog.create_job(session, product, upload, {})
        session.commit()
        return job.id


def _outputs(directory: Path, tag: str) -> dict[str, Path]:
    directory.mkdir()
    outputs = {"glb": directory / "m.glb", "usdz": directory / "m.usdz", "report": directory / "r.json"}
    outputs["glb"].write_bytes(b"glb " + tag.encode())
    outputs["usdz"].write_bytes(b"usdz " + tag.encode())
    outputs["report"].write_text(json.dumps({"dimensions_m": None}))
    return outputs


def _expire_lease(sessions, job_id: str) -> None:
    with sessions() as session:
        session.execute(update(Job).where(Job.id == job_id).values(lease_expires=utcnow() - timedelta(seconds=1)))
        session.commit()


def test_of_runners_racing_for_one_job_exactly_one_claims_it(sessions):
    job_id = _queue_job(sessions)
    barrier = threading.Barrier(8)
    claims = []

    def race(n: int) -> None:
        with sessions() as session:
            barrier.wait()
            claims.append(leases.claim_job(session, job_id, f"runner-{n}", 60))

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [c for c in claims if c is not None]
    assert len(won) == 1 and won[0].attempt == 1
    with sessions() as session:
        assert session.get(Job, job_id).lease_owner.startswith("runner-")


def test_a_worker_that_lost_its_lease_never_publishes(sessions, tmp_path: Path):
    storage = LocalStorage(tmp_path / "objects")
    job_id = _queue_job(sessions)
    with sessions() as session:
        stale = leases.claim_job(session, job_id, "worker-a", 60)

    _expire_lease(sessions, job_id)  # worker-a froze (or died) past its lease
    with sessions() as session:
        assert not leases.renew_lease(session, stale, 60)
        assert leases.release_expired(session, max_attempts=3) == (1, 0)
        fresh = leases.claim_job(session, job_id, "worker-b", 60)
    assert fresh.attempt == 2

    assert not publish(sessions, storage, stale, _outputs(tmp_path / "stale", "stale"))
    assert publish(sessions, storage, fresh, _outputs(tmp_path / "fresh", "fresh"))
    assert not publish(sessions, storage, fresh, _outputs(tmp_path / "again", "again"))  # delivered twice
    with sessions() as session:
        [version] = session.query(Version).all()
        assert version.manifest["attempt"] == 2
        assert storage.open(version.manifest["assets"]["glb"]).read() == b"glb fresh"
        job = session.get(Job, job_id)
        assert (job.status, job.attempts, job.lease_owner) == ("succeeded", 2, None)


def test_an_expired_lease_alone_is_enough_to_fence(sessions, tmp_path: Path):
    job_id = _queue_job(sessions)
    with sessions() as session:
        job = leases.claim_job(session, job_id, "worker-a", 60)
    _expire_lease(sessions, job_id)
    assert not publish(sessions, LocalStorage(tmp_path / "o"), job, _outputs(tmp_path / "v", "v"))


def test_jobs_out_of_attempts_fail_instead_of_running_again(sessions):
    job_id = _queue_job(sessions)
    for attempt in (1, 2):
        with sessions() as session:
            assert leases.claim_job(session, job_id, "w", 60).attempt == attempt
        _expire_lease(sessions, job_id)
        with sessions() as session:
            expected = (1, 0) if attempt < 2 else (0, 1)
            assert leases.release_expired(session, max_attempts=2) == expected
    with sessions() as session:
        job = session.get(Job, job_id)
        assert (job.status, job.error_code) == ("failed", "INTERRUPTED")


def test_a_retry_waits_for_its_delay(sessions):
    job_id = _queue_job(sessions)
    with sessions() as session:
        job = leases.claim_next_job(session, "w", 60)
        leases.requeue(session, job, delay=30, code="PUBLISH_FAILED", message="Attempt 1 failed")
        assert leases.claim_next_job(session, "w", 60) is None
        assert leases.jobs_to_enqueue(session, 10) == []
        waiting = session.get(Job, job_id, populate_existing=True)
        assert (waiting.status, waiting.error_code) == ("queued", "PUBLISH_FAILED")
        session.execute(update(Job).values(not_before=utcnow() - timedelta(seconds=1)))
        session.commit()
        assert leases.jobs_to_enqueue(session, 10) == [(job_id, 1)]
        assert leases.claim_next_job(session, "w", 60).attempt == 2
