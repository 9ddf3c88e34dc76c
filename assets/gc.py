"""`vitrine3d gc`: remove stored objects that nothing in the catalog refers to, once they are old.

Publishing stores files before its transaction commits (assets/publish.py), so a publish that
failed, crashed or was fenced off leaves objects behind that no version lists; so does a product
deletion (its versions go, their content-addressed files may stay). Those are the orphans:

    objects/…     published files referenced by no version of any product
    manifests/…   manifests of attempts that published nothing
    uploads/…     originals whose upload row is gone

The grace period protects a publish still in flight (its files are stored, its transaction not
yet committed): only objects older than the grace period are removed, so it must be longer than a
job's longest publish. Versions that were superseded keep their files (history, rollback);
deleting a product is what releases them. Safe to run from cron on any machine, repeatedly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .models import Upload, Version, VersionObject, utcnow
from .publish import manifest_key
from .storage import Storage

log = logging.getLogger(__name__)

PREFIXES = ("objects/", "manifests/", "uploads/")


@dataclass
class Collected:
    """What a run found: orphans removed (or, in a dry run, that would be), and kept for being young."""

    removed: list[str] = field(default_factory=list)
    too_young: list[str] = field(default_factory=list)


def referenced_keys(session: Session) -> set[str]:
    """Every storage key the catalog refers to."""
    keys = set(session.scalars(select(VersionObject.key)))
    keys.update(session.scalars(select(Upload.storage_key)))
    for manifest in session.scalars(select(Version.manifest)):
        if "attempt" in manifest:
            keys.add(manifest_key(manifest["job"], manifest["attempt"]))
    return keys


def collect(sessions: sessionmaker[Session], storage: Storage, grace_seconds: float, dry_run: bool = False) -> Collected:
    """Remove the orphans older than `grace_seconds` (see the module docstring)."""
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    # Listed before the catalog is read: an object stored after this listing is not considered,
    # and one listed here that a commit references meanwhile is in the set read next.
    listed = [(key, modified) for prefix in PREFIXES for key, modified in storage.entries(prefix)]
    with sessions() as session:
        referenced = referenced_keys(session)
    result = Collected()
    for key, modified in listed:
        if key in referenced:
            continue
        if modified > cutoff:
            result.too_young.append(key)
            continue
        if not dry_run:
            storage.delete(key)
        result.removed.append(key)
    log.info("gc: %d orphans %s, %d kept until older", len(result.removed), "found" if dry_run else "removed", len(result.too_young))
    return result
