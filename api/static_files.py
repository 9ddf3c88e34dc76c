"""/static: the viewer's scripts, stylesheet, <model-viewer> bundle and decoders.

Storefronts paste a snippet that loads these from their own origin, and module scripts and
WebAssembly are fetched in CORS mode, so every file is sent with `Access-Control-Allow-Origin: *`
(no credentials: nothing here is private). With `nosniff` a script must be served as JavaScript
and a decoder as WebAssembly, and slim images ship no /etc/mime.types, so the types are
registered here rather than left to the OS. File names are not versioned: caches revalidate
(ETag) after an hour.
"""

from __future__ import annotations

import mimetypes

from starlette.responses import Response
from starlette.staticfiles import StaticFiles

for _type, _ext in (
    ("text/javascript", ".js"),
    ("text/javascript", ".mjs"),
    ("text/css", ".css"),
    ("application/wasm", ".wasm"),
    ("image/svg+xml", ".svg"),
):
    mimetypes.add_type(_type, _ext)

STATIC_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "public, max-age=3600",
    "Cross-Origin-Resource-Policy": "cross-origin",
}


class PublicStaticFiles(StaticFiles):
    def file_response(self, *args, **kwargs) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(STATIC_HEADERS)
        return response
