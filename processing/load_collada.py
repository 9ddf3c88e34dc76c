"""COLLADA (.dae, alone or zipped with its textures) through trimesh's reader (pycollada).

Before pycollada sees a byte, one streaming expat pass over the whole document:
- refuses any DOCTYPE or entity declaration, whatever the encoding (XXE, billion laughs: COLLADA
  never needs one, so nothing legitimate is lost);
- refuses absurd nesting (pycollada walks nodes recursively);
- reads `<asset><unit meter>` and `<up_axis>`, which trimesh keeps only as metadata, for `normalize`.
Image paths (`init_from`) go through the upload's resolver, which matches the Windows paths
exporters write by file name inside the upload.
"""
from __future__ import annotations

import xml.parsers.expat

from . import errors
from .errors import ConversionError
from .ingest import Upload
from .report import Report
from .scene import Scene
from .settings import Limits

MAX_DEPTH = 200
_UP = {"X_UP": "+x", "Y_UP": "+y", "Z_UP": "+z"}


class _Refused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def load(upload: Upload, resolver, limits: Limits, report: Report) -> Scene:
    from .load import _load_with_trimesh  # trimesh's reader, behind the shared resolver and image gate

    precheck(upload)  # again: the loader stays safe when called without the preflight step
    return _load_with_trimesh(upload, resolver, limits, report)


def precheck(upload: Upload) -> None:
    """Refuse a DOCTYPE or deep nesting (expat, before pycollada); record the stated unit and up axis."""
    facts = _scan(upload.root)
    meter, up = facts.get("meter"), facts.get("up")
    if meter is not None:
        upload.stated.metres_per_unit = meter
        upload.stated.unit_source = f"COLLADA <unit meter=\"{meter:g}\">"
    if up is not None:
        upload.stated.up_axis = up
        upload.stated.up_source = "COLLADA <up_axis>"


def _scan(path) -> dict:
    """One pass: refuse DTDs and deep nesting; collect the asset's unit and up axis."""
    facts: dict = {}
    stack: list[str] = []
    text: list[str] = []

    def start(name, attrs):
        local = name.rsplit("}", 1)[-1].rsplit(" ", 1)[-1]
        stack.append(local)
        if len(stack) > MAX_DEPTH:
            raise _Refused(errors.CORRUPT_FILE, f"The COLLADA document nests deeper than {MAX_DEPTH} levels.")
        text.clear()
        if local == "unit" and stack[-2:-1] == ["asset"] and len(stack) == 3:
            try:
                meter = float(attrs.get("meter", "1"))
            except ValueError:
                meter = 0.0
            if not 1e-6 <= meter <= 1e6:
                raise _Refused(errors.CORRUPT_FILE, "The COLLADA <unit meter> is not a usable scale.")
            facts["meter"] = meter

    def end(name):
        if stack[-1] == "up_axis" and len(stack) == 3:
            facts["up"] = _UP.get("".join(text).strip().upper())
        stack.pop()

    def refuse_dtd(*_):
        raise _Refused(errors.UNSAFE_INPUT, "The COLLADA file declares a DOCTYPE or entities; export it again without one.")

    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text.append
    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.ExternalEntityRefHandler = lambda *_: refuse_dtd()
    try:
        with open(path, "rb") as fh:
            parser.ParseFile(fh)
    except _Refused as exc:
        raise ConversionError(exc.code, str(exc)) from None
    except xml.parsers.expat.ExpatError as exc:
        raise ConversionError(errors.CORRUPT_FILE, f"The COLLADA file is not well-formed XML (line {exc.lineno}).") from None
    return facts
