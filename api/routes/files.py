"""/files/<key>: published files from local storage, for model-viewer, Quick Look and storefronts.

Only objects that a product currently publishes are reachable: originals, drafts (files stored
by a publish that never committed) and superseded versions are 404, whatever their key. Keys are
content hashes, so responses are cacheable forever; CORS is open (no credentials) because
storefronts on other origins load these files into their own pages.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from assets import catalog
from assets.publish import POSTER_CONTENT_TYPE, PUBLISHED_KINDS

from ..deps import SessionDep
from ..errors import not_found

log = logging.getLogger(__name__)

router = APIRouter(tags=["public"])

PUBLIC_FILE_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "Access-Control-Allow-Origin": "*",
    "X-Content-Type-Options": "nosniff",
}

# Every type a published object is stored with, for the document's 200 (assets/publish.py).
PUBLISHED_CONTENT_TYPES = sorted({content_type for _, content_type in PUBLISHED_KINDS.values()} | {POSTER_CONTENT_TYPE})


@router.get(
    "/files/{key:path}",
    response_class=FileResponse,
    responses={200: {"description": "The published file.", "content": {kind: {} for kind in PUBLISHED_CONTENT_TYPES}}},
)
@router.head("/files/{key:path}", include_in_schema=False)
def get_file(key: str, request: Request, session: SessionDep) -> FileResponse:
    published = catalog.published_object(session, key)
    if published is None:
        raise not_found("File")
    path = request.app.state.storage.path(key)
    if not path.is_file():
        log.error("published object %s is missing from storage", key)
        raise not_found("File")
    return FileResponse(path, media_type=published.content_type, headers=PUBLIC_FILE_HEADERS)
