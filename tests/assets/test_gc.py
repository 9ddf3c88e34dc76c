"""`vitrine3d gc` removes what no version or upload refers to, once older than the grace period."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from assets import catalog, leases
from assets.db import make_engine, make_session_factory, migrate
from assets.gc import collect
from assets.models import Product, Upload
from assets.publish import publish
from assets.storage import LocalStorage, storage_from_url


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path: Path):
    if request.param == "local":
        return LocalStorage(tmp_path / "objects")
    endpoint = request.getfixturevalue("s3_server").url
    return storage_from_url(f"s3://{request.getfixturevalue('bucket')}/gc", endpoint_url=endpoint)


@pytest.fixture
def sessions(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path}/catalog.db")
    migrate(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _publish(sessions, storage, tmp_path: Path, tag: str) -> None:
    with sessions() as session:
        product = catalog.get_product(session, "default", "SOFA") or catalog.create_product(
            session, Product(tenant="default", sku="SOFA", name="Sofa")
        )
        upload = Upload(id=catalog.new_id(), product_id=product.id, storage_key=f"uploads/{tag}", sha256="0", size=1, filename="f")
        storage.put(upload.storage_key, b"original " + tag.encode(), "application/octet-stream")
        catalog.create_job(session, product, upload, {})
        session.commit()
        job = leases.claim_next_job(session, "w", 60)
    out = tmp_path / tag
    out.mkdir()
    outputs = {"glb": out / "m.glb", "usdz": out / "m.usdz", "report": out / "r.json"}
    outputs["glb"].write_bytes(b"glb " + tag.encode())
    outputs["usdz"].write_bytes(b"usdz " + tag.encode())
    outputs["report"].write_text(json.dumps({}))
    assert publish(sessions, storage, job, outputs)


def test_orphans_go_once_old_enough_and_everything_referenced_stays(sessions, storage, tmp_path: Path):
    _publish(sessions, storage, tmp_path, "v1")
    _publish(sessions, storage, tmp_path, "v2")  # v1 is superseded: kept (history)
    kept = set(storage.list())
    orphans = {"objects/deadbeef.glb", "manifests/gone-1.json", "uploads/gone"}  # a publish that never committed
    for key in orphans:
        storage.put(key, b"x", "application/octet-stream")

    young = collect(sessions, storage, grace_seconds=3600)
    assert young.removed == [] and set(young.too_young) == orphans

    if isinstance(storage, LocalStorage):  # age them; S3 times cannot be set, so wait instead
        for key in orphans:
            os.utime(storage.path(key), (time.time() - 7200, time.time() - 7200))
        grace = 3600
    else:
        time.sleep(1.5)
        grace = 1
    dry = collect(sessions, storage, grace_seconds=grace, dry_run=True)
    assert set(dry.removed) == orphans and set(storage.list()) == kept | orphans
    done = collect(sessions, storage, grace_seconds=grace)
    assert set(done.removed) == orphans
    assert set(storage.list()) == kept


def test_the_gc_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    from api.cli import main

    monkeypatch.setenv("VITRINE_DATABASE_URL", f"sqlite:///{tmp_path}/catalog.db")
    monkeypatch.setenv("VITRINE_STORAGE_URL", f"file://{tmp_path}/objects")
    storage = LocalStorage(tmp_path / "objects")
    storage.put("objects/orphan.glb", b"x", "model/gltf-binary")

    assert main(["gc", "--dry-run", "--grace", "0"]) == 0
    assert capsys.readouterr().out.split() == ["objects/orphan.glb"] and storage.exists("objects/orphan.glb")
    assert main(["gc", "--grace", "0"]) == 0
    assert not storage.exists("objects/orphan.glb")


def test_a_worker_needs_a_queue(monkeypatch: pytest.MonkeyPatch, capsys):
    from api.cli import main

    monkeypatch.delenv("VITRINE_QUEUE_URL", raising=False)
    assert main(["worker"]) == 2
    assert "VITRINE_QUEUE_URL" in capsys.readouterr().err
