"""load: parse the model into a `Scene` that keeps node transforms, PBR materials, UVs, normals
and textures.

Loaders are a registry keyed by format, each in a module named for what it reads, imported when a
file of its format first arrives (the 3D libraries behind them take seconds to import):
- glTF/GLB: our own numpy reader (`load_gltf`);
- OBJ+MTL, STL, PLY: trimesh (`load_trimesh`), a well-kept reader;
- FBX (ufbx, load_fbx), COLLADA (trimesh + pycollada behind a DTD check, load_collada), 3DS
  (Assimp, load_3ds), STEP (OpenCASCADE via cascadio, load_step) and USD/USDZ (usd-core, every
  asset path checked before composing, load_usd). Each records what the file states about its
  unit and up axis in `upload.stated` for `normalize`.
Three things are ours whatever the reader, because the readers are forgiving where we must not be:
- every file a model names goes through `ingest.resolve_reference` (our `SafeResolver`), and a
  refused reference fails the job even though the reader would carry on without it;
- every image a model names goes through `preflight.check_image_header` (PNG/JPEG/WebP only, the
  pixel cap read from the header before decoding, Pillow's decompression-bomb warning an error);
- the step before this one, `preflight`, has already checked the file's structure and counts
  (glTF as the Khronos validator does, OBJ faces and indices, PLY header, STL size).
Whatever the source carries that we drop (extensions, vertex colours, points, lines) is a warning.

Design history: until issue 3 every format trimesh reads, glTF included, went through it here;
importing trimesh took ~1.5 s of a 6.5 s GLB conversion, so glTF got its own reader and trimesh
is imported only by the formats that still use it.
"""
from __future__ import annotations

import importlib
from typing import Callable

from . import errors
from .errors import ConversionError
from .ingest import Upload, resolve_reference
from .preflight import check_image_header, looks_like_image
from .report import Report
from .scene import Material, Scene
from .settings import Limits, Settings

DEFAULT_MATERIAL = Material(name="default", base_color_factor=(0.8, 0.8, 0.8, 1.0),
                            metallic_factor=0.0, roughness_factor=0.7)


def run(conv, settings: Settings) -> None:
    upload: Upload = conv.upload
    resolver = SafeResolver(upload, settings.limits)
    scene = LOADERS[upload.format](upload, resolver, settings.limits, conv.report)
    resolver.raise_first_refusal()
    for text in resolver.missing:
        conv.report.warn(f"'{text}' is named by the model but not in the upload: it was skipped")
    if scene.triangle_count == 0:
        raise ConversionError(errors.NO_GEOMETRY, "The file holds no triangles to show (points or lines only, or empty).")
    if scene.triangle_count > settings.limits.input_triangles:
        raise ConversionError(
            errors.TOO_MANY_TRIANGLES,
            f"The model has {scene.triangle_count:,} triangles; at most {settings.limits.input_triangles:,} are accepted.",
        )
    conv.scene = scene


class SafeResolver:
    """The readers' view of the upload: only files inside it, images checked before decoding.

    It has the interface of a trimesh resolver (which trimesh only duck-types), so trimesh's
    readers fetch through it too. A refused or missing file is recorded and `get` raises
    FileNotFoundError, the readers' way of skipping it; `load.run` then fails or warns."""

    def __init__(self, upload: Upload, limits: Limits):
        self.upload = upload
        self.limits = limits
        self.refused: list[ConversionError] = []
        self.missing: list[str] = []

    def get(self, name: str) -> bytes:
        try:
            path = resolve_reference(self.upload.directory, self.upload.root.parent, name,
                                     by_name=self.upload.format in BY_NAME_FORMATS)
        except ConversionError as exc:
            (self.missing.append(name) if exc.code == errors.REFERENCE_MISSING else self.refused.append(exc))
            raise FileNotFoundError(name) from None
        data = path.read_bytes()
        if looks_like_image(data, name):
            try:
                check_image_header(data, name, self.limits)
            except ConversionError as exc:
                self.refused.append(exc)
                raise FileNotFoundError(name) from None
        return data

    __getitem__ = get

    def namespaced(self, namespace: str) -> "SafeResolver":
        return self

    def keys(self):
        return []

    def write(self, name, data):
        raise PermissionError("the upload is read-only")

    def raise_first_refusal(self) -> None:
        if self.refused:
            raise self.refused[0]


def _load_with_trimesh(upload: Upload, resolver: SafeResolver, limits: Limits, report: Report,
                       data: bytes | None = None) -> Scene:
    """trimesh's readers (load_trimesh), for OBJ, STL, PLY and for load_collada and load_step."""
    from . import load_trimesh

    return load_trimesh.load(upload, resolver, limits, report, data)


def _deferred(module: str) -> Callable[[Upload, SafeResolver, Limits, Report], Scene]:
    """The `load` of processing.<module>, imported when a file of its format first arrives."""
    def load(upload: Upload, resolver: SafeResolver, limits: Limits, report: Report) -> Scene:
        return importlib.import_module(f"{__package__}.{module}").load(upload, resolver, limits, report)

    return load


LOADERS: dict[str, Callable[[Upload, SafeResolver, Limits, Report], Scene]] = {
    "glb": _deferred("load_gltf"), "gltf": _deferred("load_gltf"),
    **{fmt: _load_with_trimesh for fmt in ("obj", "stl", "ply")},
    "fbx": _deferred("load_fbx"), "dae": _deferred("load_collada"), "3ds": _deferred("load_3ds"),
    "step": _deferred("load_step"), "usd": _deferred("load_usd"),
}
# Files that carry the exporter's own disk paths (Windows ones, often): matched by file name.
BY_NAME_FORMATS = ("obj", "fbx", "dae", "3ds")
