"""ingest: find out what the upload really is and lay it out safely in the job's scratch folder.

- The format comes from the bytes, never the file name (`sniff`).
- A zip is inspected before anything is extracted: entry count, names (no `..`, no absolute
  paths, no backslashes, no links, no case-only duplicates), no encryption, no nested archives;
  then extracted while counting real bytes, so the unpacked-size and ratio limits hold even when
  the archive lies about its sizes.
- Exactly one model file must be in the archive; its format is sniffed from its bytes too.
  A USDZ is a zip too, told apart by its first entry (a .usda/.usdc layer, as the format requires);
  it is unpacked under the same limits and its first entry is the root layer.
- `resolve_reference` is the one resolver every loader uses for the files a model names
  (glTF `uri`, `mtllib`, `map_Kd`, DAE `init_from`, FBX and USD texture paths): paths inside the
  upload only, nothing else, ever. Suppliers export from Windows machines, so for the formats
  whose files carry the exporter's own disk paths (MTL, FBX, DAE, 3DS) an absolute or backslashed
  path is matched by its file name to a file inside the upload; it never reaches outside it.
"""
from __future__ import annotations

import lzma
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote

from . import errors
from .errors import ConversionError
from .settings import Limits, Settings

if TYPE_CHECKING:
    from .preflight import GltfDocument

MODEL_FORMATS = ("glb", "gltf", "obj", "stl", "ply", "fbx", "dae", "3ds", "step", "usd", "usdz")
_MODEL_SUFFIXES = {
    ".glb": "glb", ".gltf": "gltf", ".obj": "obj", ".stl": "stl", ".ply": "ply", ".fbx": "fbx",
    ".dae": "dae", ".3ds": "3ds", ".step": "step", ".stp": "step", ".usd": "usd", ".usda": "usd",
    ".usdc": "usd",
}
_USD_LAYER_SUFFIXES = (".usd", ".usda", ".usdc")
_3DS_TOP_CHUNKS = (0x0002, 0x3D3D, 0xB000)  # version, editor, keyframer: what follows 0x4D4D
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!")
_OBJ_KEYWORDS = (b"v", b"vt", b"vn", b"f", b"o", b"g", b"s", b"mtllib", b"usemtl", b"#", b"l", b"p")
_CHUNK = 1 << 16
# Entry names beyond what any file system takes (Linux: 255 bytes a name, 4096 a path).
MAX_ENTRY_NAME_BYTES = 255
MAX_ENTRY_PATH_BYTES = 1024
# A reference longer than any path inside an upload can be (and than a file system takes).
MAX_REFERENCE_CHARS = MAX_ENTRY_PATH_BYTES


@dataclass
class Stated:
    """What a file says about its own scale and axes, filled by its loader (None: it says nothing)."""

    metres_per_unit: float | None = None
    up_axis: str | None = None      # "+y", "+z", ... in the file's own coordinates
    unit_source: str = ""           # where the file says each, for the report ("FBX UnitScaleFactor")
    up_source: str = ""


@dataclass
class Upload:
    """Where the model to load is, and in which format."""

    format: str
    root: Path          # the model file itself
    directory: Path     # the only folder references may reach
    archive: bool
    stated: Stated = field(default_factory=Stated)
    # The glTF as `preflight` read and checked it (JSON and fetched buffers), so `load` reads the
    # file once: 0.14 s of reading again on the 1.9M-triangle stress model.
    gltf_document: "GltfDocument | None" = None


def sniff(head: bytes, size: int | None = None) -> str | None:
    """The format of a file from its first bytes (and its size, for binary STL and 3DS): glb, gltf,
    zip, usdz, obj, stl, ply, fbx, dae, 3ds, step or usd, or None when it is none of these."""
    if head.startswith(b"glTF"):
        return "glb"
    if head.startswith(b"PK\x03\x04"):
        return "usdz" if _first_zip_entry(head).lower().endswith(_USD_LAYER_SUFFIXES) else "zip"
    if head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith((b"ply\n", b"ply\r\n")):
        return "ply"
    if head.startswith(b"Kaydara FBX Binary"):
        return "fbx"
    if head.startswith((b"PXR-USDC", b"#usda")):
        return "usd"
    if _looks_like_3ds(head, size):
        return "3ds"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"ISO-10303-21;"):
        return "step"
    if text.startswith(b"; FBX"):
        return "fbx"
    if text.startswith(b"<") and b"<COLLADA" in head:
        return "dae"
    if text.startswith(b"{") and b'"asset"' in head:
        return "gltf"
    if text[:5].lower() == b"solid" and b"facet" in head:
        return "stl"
    if _looks_like_binary_stl(head, size):
        return "stl"
    if _looks_like_obj(text):
        return "obj"
    return None


def _first_zip_entry(head: bytes) -> str:
    """The name in the zip's first local header (USDZ requires its root layer to come first)."""
    if len(head) < 30:
        return ""
    length = int.from_bytes(head[26:28], "little")
    return head[30:30 + length].decode("utf-8", "replace")


def _looks_like_3ds(head: bytes, size: int | None) -> bool:
    """A 3DS main chunk (0x4D4D) whose length is the file's, followed by a known top chunk."""
    if len(head) < 12 or size is None or int.from_bytes(head[:2], "little") != 0x4D4D:
        return False
    return int.from_bytes(head[2:6], "little") == size and int.from_bytes(head[6:8], "little") in _3DS_TOP_CHUNKS


def _looks_like_binary_stl(head: bytes, size: int | None) -> bool:
    if len(head) < 84 or size is None:
        return False
    count = int.from_bytes(head[80:84], "little")
    return count > 0 and size == 84 + 50 * count


def _looks_like_obj(text: bytes) -> bool:
    lines = [line.strip() for line in text.splitlines()[:-1] if line.strip()]
    if not lines or b"\x00" in text:
        return False
    keyword_lines = sum(1 for line in lines if line.split(maxsplit=1)[0] in _OBJ_KEYWORDS)
    has_geometry = any(line.split(maxsplit=1)[0] in (b"v", b"mtllib", b"o", b"g") for line in lines)
    return has_geometry and keyword_lines >= 0.8 * len(lines)


def run(conv, settings: Settings) -> None:
    """Sniff the upload and lay it out under `<workdir>/upload`."""
    conv.upload = prepare(conv.source, conv.workdir / "upload", settings.limits)
    conv.report.source = {"format": conv.upload.format, "archive": conv.upload.archive,
                          "bytes": conv.source.stat().st_size}


def prepare(source: Path, directory: Path, limits: Limits) -> Upload:
    size = source.stat().st_size
    if size == 0:
        raise ConversionError(errors.EMPTY_FILE, "The uploaded file is empty.")
    with source.open("rb") as fh:
        kind = sniff(fh.read(4096), size)
    if kind is None:
        raise ConversionError(
            errors.UNSUPPORTED_FORMAT,
            f"The file is not a format we read ({ACCEPTED})."
        )
    directory.mkdir(parents=True, exist_ok=True)
    if kind == "zip":
        extract_zip(source, directory, limits)
        root, kind = _find_model(directory)
        return Upload(kind, root, directory, archive=True)
    if kind == "usdz":
        return Upload("usd", _unpack_usdz(source, directory, limits), directory, archive=True)
    if kind == "gltf":
        raise ConversionError(
            errors.REFERENCE_MISSING,
            "A bare .gltf file refers to a .bin and textures: upload a zip with all of them, or a GLB.",
        )
    root = directory / f"model.{kind}"
    shutil.copyfile(source, root)
    return Upload(kind, root, directory, archive=False)


ACCEPTED = ("GLB; glTF, OBJ, FBX, COLLADA or 3DS with their textures in a zip; FBX; STL; PLY; "
            "STEP; USD; USDZ")


def _unpack_usdz(source: Path, directory: Path, limits: Limits) -> Path:
    """A USDZ under the archive limits; its first entry is the root layer (the USDZ rule)."""
    extract_zip(source, directory, limits)
    with zipfile.ZipFile(source) as archive:
        first = archive.infolist()[0].filename
    return directory / first


def extract_zip(source: Path, directory: Path, limits: Limits) -> None:
    """Check every entry of the archive, then extract with limits counted on real bytes."""
    try:
        with zipfile.ZipFile(source) as archive:
            entries = _checked_entries(archive, limits)
            budget = limits.archive_unpacked_bytes
            for info in entries:
                budget -= _extract_entry(archive, info, directory, budget, limits)
    except (zipfile.BadZipFile, EOFError, NotImplementedError, zipfile.LargeZipFile, zlib.error, lzma.LZMAError) as exc:
        reason = "corrupt compressed data" if isinstance(exc, (zlib.error, lzma.LZMAError)) else type(exc).__name__
        raise ConversionError(errors.CORRUPT_FILE, f"The zip archive cannot be read ({reason}).")


def _checked_entries(archive: zipfile.ZipFile, limits: Limits) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > limits.archive_entries:
        raise ConversionError(
            errors.ARCHIVE_TOO_LARGE,
            f"The archive has {len(infos)} entries; at most {limits.archive_entries} are accepted.",
        )
    seen: set[str] = set()
    files = []
    for info in infos:
        name = _safe_entry_name(info.filename)
        if info.flag_bits & 0x1:
            raise ConversionError(errors.ARCHIVE_UNSAFE, f"Entry '{name}' is encrypted; upload an unencrypted zip.")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ConversionError(errors.ARCHIVE_UNSAFE, f"Entry '{name}' is a symbolic link; links are not accepted.")
        if name.lower() in seen:
            raise ConversionError(errors.ARCHIVE_UNSAFE, f"Entry '{name}' appears twice (names differing only in case).")
        seen.add(name.lower())
        if not info.is_dir() and not _is_ignored(name):
            files.append(info)
    return files


def _safe_entry_name(name: str) -> str:
    path = PurePosixPath(name)
    if not path.parts:
        raise ConversionError(errors.ARCHIVE_UNSAFE, "The archive has an entry without a name.")
    if len(name.encode()) > MAX_ENTRY_PATH_BYTES or any(len(part.encode()) > MAX_ENTRY_NAME_BYTES for part in path.parts):
        raise ConversionError(
            errors.ARCHIVE_UNSAFE,
            f"The archive has an entry whose name or path is too long (at most {MAX_ENTRY_NAME_BYTES} bytes a name, "
            f"{MAX_ENTRY_PATH_BYTES} a path).",
        )
    if (
        "\\" in name
        or "\x00" in name
        or name.startswith("/")
        or (len(name) > 1 and name[1] == ":")
        or any(part == ".." for part in path.parts)
    ):
        raise ConversionError(
            errors.ARCHIVE_UNSAFE,
            "The archive has an entry whose path leaves the archive (absolute, '..' or backslashes); "
            "re-create the zip from the model's folder.",
        )
    return name


def _is_ignored(name: str) -> bool:
    """Files a zip tool adds that are not part of the model (macOS resource forks, dot files)."""
    parts = PurePosixPath(name).parts
    return parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts)


def _extract_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, directory: Path,
                   budget: int, limits: Limits) -> int:
    target = directory / info.filename
    try:
        source = archive.open(info)
    except OSError:  # its header offset points outside the archive (the seek fails)
        raise ConversionError(errors.CORRUPT_FILE, f"Entry '{_shown(info.filename)}' cannot be found in the archive.") from None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        destination = target.open("xb")
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        source.close()
        raise ConversionError(
            errors.ARCHIVE_UNSAFE,
            f"Entry '{_shown(info.filename)}' clashes with another entry (a file and a folder of one name).",
        ) from None
    written = 0
    with source as src, destination as dst:
        first = True
        while chunk := src.read(_CHUNK):
            if first and chunk.startswith(_ARCHIVE_MAGIC):
                raise ConversionError(errors.ARCHIVE_UNSAFE, f"Entry '{_shown(info.filename)}' is itself an archive; nested archives are not accepted.")
            first = False
            written += len(chunk)
            if written > budget:
                raise ConversionError(
                    errors.ARCHIVE_TOO_LARGE,
                    f"The archive unpacks to more than {limits.archive_unpacked_bytes} bytes.",
                )
            if written > max(info.compress_size, 1) * limits.archive_ratio and written > _CHUNK:
                raise ConversionError(
                    errors.ARCHIVE_TOO_LARGE,
                    f"Entry '{_shown(info.filename)}' expands more than {limits.archive_ratio:g} times; it looks like a zip bomb.",
                )
            dst.write(chunk)
    return written


def _find_model(directory: Path) -> tuple[Path, str]:
    candidates = sorted(
        p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in _MODEL_SUFFIXES
    )
    if not candidates:
        raise ConversionError(errors.UNSUPPORTED_FORMAT, f"The archive holds no model file ({', '.join(sorted(_MODEL_SUFFIXES))}).")
    if len(candidates) > 1:
        names = ", ".join(str(p.relative_to(directory)) for p in candidates[:5])
        raise ConversionError(errors.AMBIGUOUS_ARCHIVE, f"The archive holds several model files ({names}); upload one model per zip.")
    root = candidates[0]
    with root.open("rb") as fh:
        kind = sniff(fh.read(4096), root.stat().st_size)
    if kind == "usdz" or kind not in MODEL_FORMATS:
        raise ConversionError(
            errors.UNSUPPORTED_FORMAT,
            f"'{root.relative_to(directory)}' is not a valid {root.suffix.lstrip('.').upper()} file.",
        )
    return root, kind


def resolve_reference(directory: Path, base: Path, reference: str, by_name: bool = False) -> Path:
    """The file a model refers to, if and only if it is inside the upload.

    `base` is the folder of the file holding the reference. URLs of any scheme, network paths,
    `..` and percent-encoded escapes of them are refused; nothing is ever fetched. A plain
    relative path is resolved from `base`. With `by_name` (MTL, FBX, DAE, 3DS: files that carry
    the exporter's own disk paths), an absolute or backslashed path — `C:\\Users\\bob\\wood.png`,
    `/home/bob/wood.png` — and a relative one not found where it says are matched by file name,
    ignoring case, to one file inside the upload. Without it, those are refused (glTF, USD).
    """
    decoded = unquote(reference)
    posix = decoded.replace("\\", "/")
    drive = len(posix) > 2 and posix[0].isalpha() and posix[1] == ":" and posix[2] == "/"
    absolute = drive or posix.startswith("/")
    if (
        not decoded.strip()
        or len(decoded) > MAX_REFERENCE_CHARS
        or "\x00" in decoded
        or posix.startswith("//")                      # network share or scheme-relative URL
        or (":" in posix and not drive)                # any scheme (http:, file:, data:) or stream
        or any(part == ".." for part in PurePosixPath(posix).parts)
        or ((absolute or "\\" in decoded) and not by_name)
    ):
        raise ConversionError(
            errors.REFERENCE_UNSAFE,
            f"The model refers to {_described(posix)}, which is not a file inside the upload; "
            "only relative paths to files in the zip are allowed.",
        )
    root = directory.resolve()
    if not absolute:
        candidate = (base / posix).resolve()
        if root in candidate.parents and candidate.is_file():
            return candidate
    if by_name:
        found = _find_by_name(root, PurePosixPath(posix).name)
        if found is not None:
            return found
    raise ConversionError(
        errors.REFERENCE_MISSING,
        f"The model refers to '{_shown(reference)}', which is not in the upload; add it to the zip.",
    )


def _find_by_name(root: Path, name: str) -> Path | None:
    """The one file inside `root` called `name` (case ignored: 3DS and Windows paths shout)."""
    matches = [p for p in root.rglob("*") if p.name.lower() == name.lower() and p.is_file()
               and not p.is_symlink()]
    exact = [p for p in matches if p.name == name]
    chosen = exact if len(exact) == 1 else matches
    return chosen[0].resolve() if len(chosen) == 1 else None


def _described(posix: str) -> str:
    """A refused reference in words: its kind and file name, never the path or address itself
    (an error message must not echo a server path, nor be a way to probe one)."""
    name = _shown("".join(ch for ch in PurePosixPath(posix).name if ch.isprintable())) or "(none)"
    scheme = posix.split(":", 1)[0] if ":" in posix else ""
    if scheme.isalpha() and len(scheme) > 1:
        return f"a {scheme.lower()[:10]}: address ending in '{name}'"
    if posix.startswith("/") or ":" in posix:
        return f"an absolute path ending in '{name}'"
    return f"a path that is not a plain relative one, ending in '{name}'"


def _shown(reference: str) -> str:
    return reference if len(reference) <= 80 else reference[:77] + "..."
