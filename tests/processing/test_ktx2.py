"""ktx2: textures encoded by Basis Universal (in Node) decode, with the transcoder the viewer serves
shoppers, to the pictures they came from; colour is ETC1S in sRGB, data UASTC (Zstandard) and
linear, each with its full mip chain; the encoder starts under the conversion process's
address-space limit; a missing or failing encoder is a conversion error that names no server path."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from api.settings import AppSettings
from processing import errors, ktx2
from processing.errors import ConversionError
from processing.ktx2 import Ktx2Encoding, texture_kinds

from ..oracles import ROOT

KTX2_IDENTIFIER = b"\xabKTX 20\xbb\r\n\x1a\n"
BASIS_LZ, ZSTANDARD = 1, 2  # KTX2 supercompression schemes
ETC1S_MODEL, UASTC_MODEL = 163, 166  # KHR data format colour models
LINEAR, SRGB = 1, 2  # KHR data format transfer functions


def photo(width: int = 128, height: int = 64) -> Image.Image:
    """Smooth colour ramps with a soft pattern: what block compressors meet in product textures."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    waves = 0.5 + 0.5 * np.sin(9 * x + 5 * y)
    rgb = np.stack([200 * x + 40, 160 * y + 60 * waves, 220 - 120 * waves], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def normal_map(size: int = 64) -> Image.Image:
    """A gently bumped surface's tangent-space normals, encoded as RGB."""
    y, x = np.mgrid[0:size, 0:size] / size
    n = np.stack([0.3 * np.sin(6 * x), 0.3 * np.cos(6 * y), np.ones_like(x)], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return Image.fromarray(((n * 0.5 + 0.5) * 255).astype(np.uint8), "RGB")


def header(data: bytes) -> dict:
    """The KTX2 fields that say how a file was encoded (KTX 2.0 spec, section 3)."""
    assert data[:12] == KTX2_IDENTIFIER
    vk_format, _, width, height, _, _, _, levels, scheme = struct.unpack_from("<9I", data, 12)
    dfd_offset = struct.unpack_from("<I", data, 48)[0]
    # The DFD: its total size, then the basic block's 8-byte header, then model, primaries, transfer.
    model, _, transfer = data[dfd_offset + 12], data[dfd_offset + 13], data[dfd_offset + 14]
    return {"vk_format": vk_format, "size": (width, height), "levels": levels, "scheme": scheme,
            "model": model, "transfer": transfer}


def decoded(tmp_path: Path, files: list[bytes]) -> list[tuple[dict, np.ndarray]]:
    """Each file's full-size level as RGBA, by three.js's Basis transcoder (tests/decode_ktx2.mjs)."""
    args = []
    for index, data in enumerate(files):
        (tmp_path / f"{index}.ktx2").write_bytes(data)
        args += [str(tmp_path / f"{index}.ktx2"), str(tmp_path / f"{index}.rgba")]
    done = subprocess.run(["node", str(ROOT / "tests" / "decode_ktx2.mjs"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    infos = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return [(info, np.frombuffer((tmp_path / f"{i}.rgba").read_bytes(), np.uint8).reshape(info["height"], info["width"], 4))
            for i, info in enumerate(infos)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return float(10 * np.log10(255 ** 2 / max(mse, 1e-12)))


def encode(tmp_path: Path, images: list[Image.Image], kinds: list[str]) -> list[bytes]:
    with Ktx2Encoding(images, kinds, tmp_path) as encoding:
        return encoding.result()


def test_colour_is_etc1s_in_srgb_and_data_uastc_in_linear_each_with_its_mipmaps(tmp_path):
    colour, normal, data = encode(tmp_path, [photo(), normal_map(), photo(32, 32)], ["colour", "normal", "data"])
    assert header(colour) == {"vk_format": 0, "size": (128, 64), "levels": 8, "scheme": BASIS_LZ,
                              "model": ETC1S_MODEL, "transfer": SRGB}
    for data_file, size in ((normal, (64, 64)), (data, (32, 32))):
        assert header(data_file) == {"vk_format": 0, "size": size, "levels": int(np.log2(size[0])) + 1,
                                     "scheme": ZSTANDARD, "model": UASTC_MODEL, "transfer": LINEAR}
    assert not list(tmp_path.glob("ktx2-*")), "the scratch folder is removed"


def test_each_texture_decodes_to_its_own_picture_with_the_viewers_transcoder(tmp_path):
    sources = [photo(), normal_map(), Image.new("RGBA", (16, 16), (30, 160, 90, 128))]
    files = encode(tmp_path, sources, ["colour", "normal", "colour"])
    (colour_info, colour), (normal_info, normal), (alpha_info, alpha) = decoded(tmp_path, files)
    assert [colour_info["uastc"], normal_info["uastc"]] == [False, True]
    assert psnr(colour[..., :3], np.asarray(sources[0])) > 30  # ETC1S at quality 128
    assert psnr(normal[..., :3], np.asarray(sources[1])) > 40  # UASTC
    assert alpha_info["alpha"] and abs(int(alpha[..., 3].mean()) - 128) <= 4


def test_a_relative_scratch_folder_works_like_the_services_job_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the service's conversions write to "out", relative to their job
    Path("out").mkdir()
    (colour,) = encode(Path("out"), [photo()], ["colour"])
    assert header(colour)["size"] == (128, 64)


def test_texture_kinds_follow_the_slots_that_use_them(pbr_scene):
    # base colour (also emissive), packed metallic-roughness + occlusion, normal map
    assert texture_kinds(pbr_scene) == ["colour", "data", "normal"]


def test_the_encoder_starts_under_the_conversion_process_address_space_limit(tmp_path):
    limit = AppSettings.model_fields["job_memory_bytes"].default
    script = (f"import resource, sys; resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
              "from pathlib import Path; from PIL import Image; from processing.ktx2 import Ktx2Encoding\n"
              f"with Ktx2Encoding([Image.new('RGB', (64, 64), (200, 90, 20))], ['colour'], Path({str(tmp_path)!r})) as e:\n"
              "    print(len(e.result()[0]))")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) > 100


def test_without_node_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(ktx2.shutil, "which", lambda name: None)
    with pytest.raises(ConversionError) as caught:
        Ktx2Encoding([photo()], ["colour"], tmp_path)
    assert caught.value.code == errors.TEXTURE_ENCODER_FAILED
    assert "Node.js" in caught.value.message and "make setup" in caught.value.message


def test_a_failing_encoder_is_a_conversion_error_that_names_no_server_path(tmp_path, monkeypatch, capfd):
    broken = tmp_path / "broken.mjs"
    broken.write_text(f"throw new Error('cannot read {tmp_path}/secret/input.rgba');\n")
    monkeypatch.setattr(ktx2, "SCRIPT", broken)
    with pytest.raises(ConversionError) as caught:
        encode(tmp_path, [photo()], ["colour"])
    assert caught.value.code == errors.TEXTURE_ENCODER_FAILED
    assert "/" not in caught.value.message and "'webp'" in caught.value.message
    assert "secret/input.rgba" in capfd.readouterr().err  # the log keeps Node's own words


def test_images_are_shared_out_among_processes_by_pixels_largest_first():
    jobs = [{"width": w, "height": h, "name": name} for name, (w, h) in
            {"a": (2048, 2048), "b": (1024, 1024), "c": (2048, 1024), "d": (512, 512)}.items()]
    shares = ktx2._shares(jobs, 2)
    assert [[job["name"] for job in share] for share in shares] == [["a"], ["c", "b", "d"]]
    assert ktx2._shares(jobs[:1], 2) == [jobs[:1]]  # never an idle process
