"""QR codes that open a product's viewer page on a phone ("View in your room" on desktop, and
printed on catalogues, price tags and showroom signs).

segno is a small, pure-Python, well-maintained QR encoder (ISO/IEC 18004) with no image library
underneath. The input is always a URL this service built, never client text. Error correction is
level H (30% of the code may be lost), because printed codes get folded, scuffed and
photographed at an angle; the 4-module quiet zone the standard asks for is kept.
"""

from __future__ import annotations

import io

import segno

ERROR_CORRECTION = "H"
QUIET_ZONE = 4  # modules
PNG_SCALE = (1, 10, 40)  # smallest, default, largest pixels per module


def _code(url: str) -> segno.QRCode:
    # boost_error=False: exactly level H, not whatever segno can fit at the same version.
    return segno.make_qr(url, error=ERROR_CORRECTION, boost_error=False)


def qr_svg(url: str, title: str) -> bytes:
    """A scalable SVG (viewBox only, no fixed size), so it prints sharp at any size."""
    buffer = io.BytesIO()
    _code(url).save(
        buffer, kind="svg", border=QUIET_ZONE, omitsize=True, light="#fff", title=title, svgclass=None, lineclass=None
    )
    return buffer.getvalue()


def qr_png(url: str, scale: int = PNG_SCALE[1]) -> bytes:
    """A black-on-white PNG with `scale` pixels per module."""
    low, _, high = PNG_SCALE
    if not low <= scale <= high:
        raise ValueError(f"scale must be between {low} and {high}")
    buffer = io.BytesIO()
    _code(url).save(buffer, kind="png", border=QUIET_ZONE, scale=scale)
    return buffer.getvalue()
