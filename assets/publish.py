"""Publishing a finished conversion: files into storage, then one transaction makes them visible.

Order matters (DESIGN.md, SECURITY.md invariant 3): the output files go to storage first (under
content-addressed keys, so re-putting them is harmless), then the manifest object, and only then
one DB transaction records the version, points the product at it and marks the job succeeded.
A failure or crash anywhere before that commit leaves the previous version published; objects
already stored stay unreachable because the files route serves only what a published version lists
(and `vitrine3d gc` removes them once they are old enough, see assets/gc.py).

The transaction is fenced (assets/leases.py): it commits only for the attempt that holds the
job's lease, so a job delivered twice, or a worker that lost its lease, never publishes twice or
over a newer version. Each attempt writes its own manifest, so a stale attempt cannot overwrite
the manifest of the one that published.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from viewer.poster import render_poster

from . import webhooks
from .leases import ClaimedJob, current_attempt
from .models import Job, Product, Version, VersionObject, utcnow
from .storage import Storage, object_key, sha256_file

log = logging.getLogger(__name__)

# kind → (extension, Content-Type) of each published file.
PUBLISHED_KINDS: dict[str, tuple[str, str]] = {
    "glb": ("glb", "model/gltf-binary"),
    "glb_web": ("glb", "model/gltf-binary"),
    "usdz": ("usdz", "model/vnd.usdz+zip"),
    "report": ("json", "application/json"),
}
POSTER_CONTENT_TYPE = "image/webp"


def manifest_key(job_id: str, attempt: int) -> str:
    return f"manifests/{job_id}-{attempt}.json"
OPTIONAL_KINDS = {"glb_web"}


def publish(sessions: sessionmaker[Session], storage: Storage, job: ClaimedJob, outputs: dict[str, Path]) -> bool:
    """Store `outputs` and make them the product's published version.

    Returns False when the job is no longer this attempt's to finish (the product was deleted or
    the job was re-run meanwhile): nothing is then published. Storage errors propagate.
    """
    report = json.loads(outputs["report"].read_text())
    objects = []
    for kind, (ext, content_type) in PUBLISHED_KINDS.items():
        if kind not in outputs and kind in OPTIONAL_KINDS:
            continue
        key = object_key(sha256_file(outputs[kind]), ext)
        # Put even when the key exists: the same bytes again, but a fresh modification time, so
        # `vitrine3d gc` cannot take an old orphan with this content while we commit.
        storage.put(key, outputs[kind], content_type)
        objects.append(VersionObject(kind=kind, key=key, content_type=content_type))
    if (poster := _store_poster(storage, job, outputs["glb"])) is not None:
        objects.append(poster)
    manifest = {
        "sku": job.sku,
        "job": job.id,
        "attempt": job.attempt,
        "assets": {o.kind: o.key for o in objects},
        "dimensions_m": report.get("dimensions_m"),
        # How the web flavour's textures are encoded: pages may show it inline only without KTX2,
        # whose transcoder their Content-Security-Policy forbids (viewer/security.py).
        "web_textures": report.get("settings", {}).get("web_textures") if "glb_web" in outputs else None,
        "summary": report_summary(report),
        "created": utcnow().isoformat(),
    }
    storage.put(manifest_key(job.id, job.attempt), json.dumps(manifest, indent=2).encode(), "application/json")

    with sessions() as session, session.begin():
        finished = session.execute(
            update(Job)
            .where(current_attempt(job))
            .values(
                status="succeeded",
                progress=1.0,
                finished=utcnow(),
                error_code=None,
                error_message=None,
                lease_owner=None,
                lease_expires=None,
            )
        )
        if finished.rowcount != 1:
            log.info("job %s: no longer current, not publishing", job.id)
            return False
        version = Version(product_id=job.product_id, job_id=job.id, manifest=manifest, objects=objects)
        session.add(version)
        session.flush()
        session.execute(update(Product).where(Product.id == job.product_id).values(published_version_id=version.id))
        # The events go out iff this transaction commits (an outbox, see assets/webhooks.py).
        row = session.get(Job, job.id)
        webhooks.emit(session, row.tenant, "job.succeeded", webhooks.job_data(row, version.id))
        webhooks.emit(session, row.tenant, "product.published", webhooks.product_data(job.sku, version.id, job.id))
    log.info("job %s: published version %s of %s", job.id, version.id, job.sku)
    return True


def report_summary(report: dict) -> dict:
    """What the catalog list shows of a version without fetching its report."""
    output = report.get("output", {})
    return {
        "triangles": output.get("triangles"),
        "bytes": output.get("files", {}),
        "warnings": len(report.get("warnings", [])),
    }


def _store_poster(storage: Storage, job: ClaimedJob, glb: Path) -> VersionObject | None:
    """Render the poster (viewer/poster.py) and store it; a failure is a warning, never a failed publish."""
    try:
        poster = render_poster(glb)
    except Exception as exc:
        log.warning("job %s: published without a poster: %s", job.id, exc)
        return None
    key = object_key(hashlib.sha256(poster).hexdigest(), "webp")
    if not storage.exists(key):
        storage.put(key, poster, POSTER_CONTENT_TYPE)
    return VersionObject(kind="poster", key=key, content_type=POSTER_CONTENT_TYPE)
