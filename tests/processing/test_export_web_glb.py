"""export_web_glb: the compressed flavour decodes (with the decoder the browser runs) to valid data
at the same size as the AR flavour, and is much smaller."""
import json
import struct
import subprocess
from pathlib import Path

import numpy as np

from processing.export_web_glb import POSITION_BITS
from processing.settings import Settings
from processing.validate import measure_glb

from ..oracles import ROOT, khronos_validate
from .inputs import sphere, textured_obj_zip, binary_stl
from .test_pipeline import converted


def gltf_json(path: Path) -> dict:
    data = path.read_bytes()
    (length,) = struct.unpack_from("<I", data, 12)
    return json.loads(data[20:20 + length])


def decoded(path: Path) -> Path:
    out = path.with_suffix(".decoded.glb")
    subprocess.run(["node", str(ROOT / "tests" / "decode_web_glb.mjs"), str(path), str(out)],
                   check=True, cwd=ROOT, timeout=120)
    return out


def world_size(gltf: dict) -> np.ndarray:
    """World bounding box from the quantised POSITION bounds and each node's TRS."""
    corners = []
    for node in gltf["nodes"]:
        accessor = gltf["accessors"][gltf["meshes"][node["mesh"]]["primitives"][0]["attributes"]["POSITION"]]
        low, high = np.array(accessor["min"], float), np.array(accessor["max"], float)
        box = np.array([[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])])
        x, y, z, w = node["rotation"]
        rotation = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                             [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                             [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
        corners.append(box * node["scale"] @ rotation.T + node["translation"])
    points = np.vstack(corners)
    return points.max(axis=0) - points.min(axis=0)


def test_web_flavour_decodes_to_valid_data_at_the_same_size(tmp_path):
    conv = converted(tmp_path, textured_obj_zip(size=(2.0, 1.0, 0.8)), Settings(unit="m"))
    web, ar = conv.outputs["glb_web"], conv.outputs["glb"]
    gltf = gltf_json(web)
    assert set(gltf["extensionsRequired"]) == {"EXT_meshopt_compression", "KHR_mesh_quantization", "EXT_texture_webp"}
    assert gltf["images"][0]["mimeType"] == "image/webp"
    assert khronos_validate(web)[0]["numErrors"] == 0
    plain = decoded(web)
    verdict = khronos_validate(plain)[0]
    assert verdict["numErrors"] == 0, verdict  # accessor bounds must match the decoded data exactly
    step = 2.0 / (2 ** POSITION_BITS - 1)
    np.testing.assert_allclose(world_size(gltf_json(plain)), measure_glb(ar)[0], atol=2 * step)


def test_web_flavour_is_much_smaller(tmp_path):
    conv = converted(tmp_path, binary_stl(sphere(5)), Settings(unit="m"))
    assert conv.outputs["glb_web"].stat().st_size < 0.4 * conv.outputs["glb"].stat().st_size
    assert khronos_validate(decoded(conv.outputs["glb_web"]))[0]["numErrors"] == 0
