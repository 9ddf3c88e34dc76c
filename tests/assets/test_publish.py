"""Publishing is atomic: until its one transaction commits, the previous version stays visible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assets import catalog, leases
from assets.db import make_engine, make_session_factory, migrate
from assets.models import Job, Product, Upload, Version
from assets.publish import publish
from assets.storage import LocalStorage


class FailingStorage(LocalStorage):
    """Local storage whose puts of USDZ files fail, like a bucket that went away mid-publish."""

    def put(self, key, source, content_type):
        if key.endswith(".usdz"):
            raise OSError("storage unreachable")
        super().put(key, source, content_type)


@pytest.fixture
def sessions(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path}/catalog.db")
    migrate(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _claimed_job(sessions) -> leases.ClaimedJob:
    with sessions() as session:
        product = session.query(Product).one_or_none()
        if product is None:
            product = catalog.create_product(session, Product(tenant="default", sku="SOFA-1", name="Sofa"))
        upload = Upload(
            id=catalog.new_id(), product_id=product.id, storage_key="uploads/x", sha256="0", size=1, filename="f"
        )
        catalog.create_job(session, product, upload, {})
        session.commit()
        return leases.claim_next_job(session, "test", lease_seconds=60)


def _outputs(directory: Path, tag: str) -> dict[str, Path]:
    directory.mkdir()
    outputs = {"glb": directory / "model.glb", "usdz": directory / "model.usdz", "report": directory / "report.json"}
    outputs["glb"].write_bytes(b"glb " + tag.encode())
    outputs["usdz"].write_bytes(b"usdz " + tag.encode())
    outputs["report"].write_text(json.dumps({"dimensions_m": {"width": 1, "height": 2, "depth": 3}, "tag": tag}))
    return outputs


def _published_keys(sessions) -> dict[str, str] | None:
    with sessions() as session:
        version = session.query(Product).one().published_version
        return version and version.manifest["assets"]


def test_publish_stores_files_then_moves_the_product(sessions, tmp_path):
    storage = LocalStorage(tmp_path / "objects")
    job = _claimed_job(sessions)
    assert publish(sessions, storage, job, _outputs(tmp_path / "v1", "v1"))

    keys = _published_keys(sessions)
    assert keys["glb"].startswith("objects/") and keys["glb"].endswith(".glb")
    assert storage.open(keys["glb"]).read() == b"glb v1"
    assert json.loads(storage.open(f"manifests/{job.id}-1.json").read())["assets"] == keys
    with sessions() as session:
        assert session.get(Job, job.id).status == "succeeded"
        assert catalog.published_object(session, keys["usdz"]).content_type == "model/vnd.usdz+zip"


def test_failed_storage_put_leaves_the_previous_version_published(sessions, tmp_path):
    storage = LocalStorage(tmp_path / "objects")
    assert publish(sessions, storage, _claimed_job(sessions), _outputs(tmp_path / "v1", "v1"))
    before = _published_keys(sessions)

    job = _claimed_job(sessions)
    outputs = _outputs(tmp_path / "v2", "v2")
    with pytest.raises(OSError):
        publish(sessions, FailingStorage(tmp_path / "objects"), job, outputs)

    assert _published_keys(sessions) == before
    with sessions() as session:
        assert session.query(Version).count() == 1
        assert session.get(Job, job.id).status == "running"  # the runner decides: retry or fail
        # The v2 GLB did reach storage, but nothing publishes it: it is not reachable.
        draft = [k for k in storage.list("objects/") if k.endswith(".glb") and k != before["glb"]]
        assert len(draft) == 1 and catalog.published_object(session, draft[0]) is None


def test_an_attempt_that_is_no_longer_current_publishes_nothing(sessions, tmp_path):
    storage = LocalStorage(tmp_path / "objects")
    job = _claimed_job(sessions)
    with sessions() as session:
        leases.requeue(session, job)  # e.g. the job was handed to another run meanwhile

    assert not publish(sessions, storage, job, _outputs(tmp_path / "v1", "v1"))
    assert _published_keys(sessions) is None
    with sessions() as session:
        assert session.get(Job, job.id).status == "queued"


def test_runner_fails_the_job_after_retries_and_keeps_the_old_version(start_api, app_settings):
    api = start_api()
    published = api.publish("SOFA-1", b"glTF\x02\x00\x00\x00 first")
    api.app.state.runner.storage = FailingStorage(app_settings.data_dir / "objects")

    job_id = api.upload("SOFA-1", b"glTF\x02\x00\x00\x00 second").json()["job"]["id"]
    job = api.wait_for_job(job_id)

    assert job["status"] == "failed" and job["error"]["code"] == "PUBLISH_FAILED"
    assert "storage unreachable" not in job["error"]["message"]
    with api.app.state.sessions() as session:
        assert session.get(Job, job_id).attempts == app_settings.job_max_attempts
    assert api.get("/v1/products/SOFA-1").json()["assets"] == published["assets"]
    assert api.client.get(published["assets"]["glb"]).content == b"GLB:glTF\x02\x00\x00\x00 first"
