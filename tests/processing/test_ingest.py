"""ingest: format sniffing, safe unpacking of archives, and the one reference resolver."""
import zipfile
from pathlib import Path

import pytest

from processing import errors
from processing.errors import ConversionError
from processing.ingest import prepare, resolve_reference, sniff
from processing.settings import Limits

from .format_inputs import dae_box, fbx_box, max3ds_box, usd_box, usdz_box
from .inputs import binary_stl, make_zip, sphere, textured_glb, textured_obj_zip, box_obj


def write(tmp_path: Path, data: bytes | str, name: str = "upload.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def refused(tmp_path, data, code, limits=Limits()):
    with pytest.raises(ConversionError) as caught:
        prepare(write(tmp_path, data), tmp_path / "upload", limits)
    assert caught.value.code == code, caught.value.message
    assert str(tmp_path) not in caught.value.message
    return caught.value


@pytest.mark.parametrize("data, expected", [
    (textured_glb(), "glb"),
    (textured_obj_zip(), "zip"),
    (b"ply\nformat ascii 1.0\nelement vertex 0\nend_header\n", "ply"),
    (b"solid cube\n  facet normal 0 0 1\n", "stl"),
    (box_obj().encode(), "obj"),
    (b'{"asset": {"version": "2.0"}, "meshes": []}', "gltf"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, None),
    (b"<?xml version='1.0'?><COLLADA>", "dae"),
    (b"<?xml version='1.0'?><svg>", None),
    (b"hello, this is not a model at all\n", None),
    (b"ISO-10303-21;\nHEADER;\n", "step"),
    (b"; FBX 7.4.0 project file\n", "fbx"),
    (b"#usda 1.0\n", "usd"),
    (b"PXR-USDC" + b"\x00" * 80, "usd"),
])
def test_sniff_reads_the_bytes_not_the_name(data, expected):
    assert sniff(data[:4096], len(data)) == expected


@pytest.mark.parametrize("build, expected", [
    (fbx_box, "fbx"), (lambda: fbx_box(binary=False), "fbx"), (dae_box, "dae"), (max3ds_box, "3ds"),
    (usd_box, "usd"), (lambda: usd_box(binary=True), "usd"), (usdz_box, "usdz"),
])
def test_sniff_knows_every_catalog_format(build, expected):
    data = build()
    assert sniff(data[:4096], len(data)) == expected


def test_3ds_is_recognised_only_when_its_chunk_length_is_the_file_size():
    data = max3ds_box()
    assert sniff(data[:4096], len(data) + 1) is None


def test_usdz_is_unpacked_and_its_first_layer_is_the_root(tmp_path):
    upload = prepare(write(tmp_path, usdz_box()), tmp_path / "upload", Limits())
    assert (upload.format, upload.root.name, upload.archive) == ("usd", "box.usdc", True)


def test_a_zip_that_is_not_a_usdz_may_hold_a_usd_layer(tmp_path):
    upload = prepare(write(tmp_path, make_zip({"chair.usda": usd_box(), "wood.png": b"x"})), tmp_path / "upload", Limits())
    assert (upload.format, upload.root.name) == ("usd", "chair.usda")


def test_binary_stl_is_recognised_only_when_its_count_matches_its_size():
    data = binary_stl(sphere(1))
    assert sniff(data[:4096], len(data)) == "stl"
    assert sniff(data[:4096], len(data) + 7) is None


def test_zip_is_extracted_and_its_one_model_found(tmp_path):
    upload = prepare(write(tmp_path, textured_obj_zip()), tmp_path / "upload", Limits())
    assert upload.format == "obj" and upload.archive
    assert upload.root.name == "box.obj"
    assert (upload.directory / "wood grain.png").is_file()


def test_extension_that_lies_is_ignored(tmp_path):
    upload = prepare(write(tmp_path, textured_glb(), "chair.obj"), tmp_path / "upload", Limits())
    assert upload.format == "glb"


def test_empty_file(tmp_path):
    refused(tmp_path, b"", errors.EMPTY_FILE)


def test_unknown_bytes(tmp_path):
    refused(tmp_path, b"\x00\x01garbage" * 100, errors.UNSUPPORTED_FORMAT)


@pytest.mark.parametrize("name", ["../evil.obj", "/etc/evil.obj", "a/../../evil.obj", "C:/evil.obj", "dir\\evil.obj"])
def test_zip_entries_that_leave_the_archive_are_refused(tmp_path, name):
    refused(tmp_path, make_zip({name: box_obj()}), errors.ARCHIVE_UNSAFE)
    assert not (tmp_path.parent / "evil.obj").exists()


def test_symlink_entries_are_refused(tmp_path):
    buffer = tmp_path / "links.zip"
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("box.obj")
        info.external_attr = (0o120777 << 16)
        archive.writestr(info, "/etc/passwd")
    refused(tmp_path, buffer.read_bytes(), errors.ARCHIVE_UNSAFE)


def test_encrypted_entries_are_refused(tmp_path):
    data = bytearray(make_zip({"box.obj": box_obj()}, zipfile.ZIP_STORED))
    data[6] |= 0x1  # general-purpose flag, bit 0: encrypted (local header)
    central = data.rfind(b"PK\x01\x02")
    data[central + 8] |= 0x1  # and in the central directory, which zipfile reads
    refused(tmp_path, bytes(data), errors.ARCHIVE_UNSAFE)


def test_names_differing_only_in_case_are_refused(tmp_path):
    refused(tmp_path, make_zip({"box.obj": box_obj(), "BOX.OBJ": box_obj()}), errors.ARCHIVE_UNSAFE)


def test_too_many_entries(tmp_path):
    files = {f"t{i}.png": b"x" for i in range(12)} | {"box.obj": box_obj()}
    refused(tmp_path, make_zip(files), errors.ARCHIVE_TOO_LARGE, Limits(archive_entries=10))


def test_zip_bomb_by_ratio_is_stopped_while_streaming(tmp_path):
    bomb = make_zip({"box.obj": box_obj(), "filler.png": b"\x00" * 5_000_000})
    refused(tmp_path, bomb, errors.ARCHIVE_TOO_LARGE, Limits(archive_ratio=50))
    assert sum(p.stat().st_size for p in (tmp_path / "upload").rglob("*") if p.is_file()) < 5_000_000


def test_total_unpacked_size_is_counted_on_real_bytes(tmp_path):
    data = make_zip({"box.obj": box_obj(), "noise.bin": bytes(range(256)) * 400}, zipfile.ZIP_STORED)
    refused(tmp_path, data, errors.ARCHIVE_TOO_LARGE, Limits(archive_unpacked_bytes=50_000))


def test_nested_archives_are_refused(tmp_path):
    refused(tmp_path, make_zip({"box.obj": box_obj(), "more.zip": make_zip({"x.obj": box_obj()})}), errors.ARCHIVE_UNSAFE)


def test_several_models_in_one_zip(tmp_path):
    refused(tmp_path, make_zip({"a.obj": box_obj(), "b.obj": box_obj()}), errors.AMBIGUOUS_ARCHIVE)


def test_zip_without_a_model(tmp_path):
    refused(tmp_path, make_zip({"readme.txt": "hello"}), errors.UNSUPPORTED_FORMAT)


def test_truncated_zip(tmp_path):
    refused(tmp_path, textured_obj_zip()[:-60], errors.CORRUPT_FILE)


def test_macos_resource_forks_are_ignored(tmp_path):
    data = textured_obj_zip(extra={"__MACOSX/._box.obj": b"\x00\x05\x16\x07junk"})
    assert prepare(write(tmp_path, data), tmp_path / "upload", Limits()).root.name == "box.obj"


UNSAFE_EVERYWHERE = [
    "http://169.254.169.254/latest/meta-data", "https://example.com/t.png", "file:///etc/passwd",
    "../secret.png", "sub/../../secret.png", "%2e%2e/secret.png", "..%2Fsecret.png", "..\\secret.png",
    "C:\\..\\secret.png", "\\\\server\\share\\secret.png", "//host/secret.png", "file:secret.png",
    "%2e%2e%5csecret.png", "",
]


@pytest.mark.parametrize("by_name", [False, True])
@pytest.mark.parametrize("reference", UNSAFE_EVERYWHERE)
def test_references_outside_the_upload_are_refused(tmp_path, reference, by_name):
    (tmp_path / "secret.png").write_bytes(b"secret")
    upload = tmp_path / "upload"
    upload.mkdir()
    with pytest.raises(ConversionError) as caught:
        resolve_reference(upload, upload, reference, by_name=by_name)
    assert caught.value.code == errors.REFERENCE_UNSAFE


@pytest.mark.parametrize("reference", ["/etc/passwd", "C:\\textures\\wood.png", "textures\\wood.png", "C:/x/wood.png"])
def test_absolute_and_windows_paths_are_refused_where_files_carry_no_disk_paths(tmp_path, reference):
    with pytest.raises(ConversionError) as caught:
        resolve_reference(tmp_path, tmp_path, reference)  # glTF, USD
    assert caught.value.code == errors.REFERENCE_UNSAFE


@pytest.mark.parametrize("reference", [
    "C:\\Users\\bob\\Desktop\\textures\\Wood.PNG", "D:/export/wood.png", "/home/bob/wood.png",
    "textures\\wood.png", "maps/wood.png",
])
def test_exporter_disk_paths_match_files_inside_the_upload_by_name(tmp_path, reference):
    """MTL, FBX, DAE and 3DS files carry the exporter's paths: matched by name, inside only."""
    upload = tmp_path / "upload"
    (upload / "textures").mkdir(parents=True)
    (upload / "textures" / "wood.png").write_bytes(b"png")
    found = resolve_reference(upload, upload, reference, by_name=True)
    assert found == (upload / "textures" / "wood.png").resolve()


def test_by_name_never_reaches_outside_the_upload(tmp_path):
    (tmp_path / "passwd").write_bytes(b"secret")
    upload = tmp_path / "upload"
    upload.mkdir()
    with pytest.raises(ConversionError) as caught:
        resolve_reference(upload, upload, str(tmp_path / "passwd"), by_name=True)
    assert caught.value.code == errors.REFERENCE_MISSING


def test_by_name_refuses_to_choose_between_two_files_of_that_name(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "wood.png").write_bytes(b"png")
    with pytest.raises(ConversionError) as caught:
        resolve_reference(tmp_path, tmp_path, "C:\\wood.png", by_name=True)
    assert caught.value.code == errors.REFERENCE_MISSING


def test_references_inside_the_upload_resolve(tmp_path):
    (tmp_path / "textures").mkdir()
    (tmp_path / "textures" / "wood grain.png").write_bytes(b"png")
    assert resolve_reference(tmp_path, tmp_path, "textures/wood%20grain.png").name == "wood grain.png"
    assert resolve_reference(tmp_path, tmp_path, "./textures/wood grain.png").is_file()
    with pytest.raises(ConversionError) as caught:
        resolve_reference(tmp_path, tmp_path, "textures/missing.png")
    assert caught.value.code == errors.REFERENCE_MISSING
