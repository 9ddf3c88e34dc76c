"""The `vitrine3d` command: keys for the API, and offline conversion with its report table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trimesh
from fastapi.testclient import TestClient

from api.cli import _dimensions, format_report, main
from api.main import create_app

from ..processing.inputs import checker_png, textured_obj_zip

VITRINE3D = Path(sys.executable).with_name("vitrine3d")


def _vitrine3d(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VITRINE3D), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def test_keys_create_prints_only_the_key_and_it_opens_the_api(app_settings):
    env = {"VITRINE_DATABASE_URL": app_settings.database_url}
    created = _vitrine3d("keys", "create", "--tenant", "shop-2", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert created.stdout == key + "\n" and key.startswith("vk_") and len(key) > 40
    assert "not shown again" in created.stderr

    with TestClient(create_app(app_settings)) as client:
        headers = {"Authorization": f"Bearer {key}"}
        assert client.post("/v1/products", json={"sku": "A", "name": "A"}, headers=headers).status_code == 201
        assert client.get("/view/shop-2/A").status_code == 404  # exists in shop-2, not published

        revoked = _vitrine3d("keys", "revoke", key, env=env)
        assert revoked.returncode == 0, revoked.stderr
        assert client.get("/v1/products", headers=headers).status_code == 401
    assert _vitrine3d("keys", "revoke", key, env=env).returncode == 1


def test_keys_create_refuses_a_bad_tenant_name(app_settings):
    result = _vitrine3d("keys", "create", "--tenant", "../x", env={"VITRINE_DATABASE_URL": app_settings.database_url})
    assert result.returncode == 2 and result.stdout == ""


def test_convert_writes_the_output_files_and_prints_the_table(tmp_path: Path, capsys):
    source = tmp_path / "cube.stl"
    source.write_bytes(trimesh.creation.box(extents=(100, 100, 100)).export(file_type="stl"))
    out = tmp_path / "out"

    assert main(["convert", str(source), "-o", str(out), "--unit", "cm", "--max-triangles", "1000"]) == 0

    assert sorted(p.name for p in out.iterdir()) == ["model.glb", "model.usdz", "model.web.glb", "report.json"]
    printed = capsys.readouterr().out
    assert "dimensions (m): width 1.000 × height 1.000 × depth 1.000" in printed
    for row in ("triangles", "vertices", "bytes (input → glb)", "ingest", "export_usdz", "total"):
        assert row in printed
    assert f"{source.stat().st_size:,}" in printed


def test_convert_can_give_the_web_flavour_ktx2_textures(tmp_path: Path, capsys):
    source = tmp_path / "box.zip"
    source.write_bytes(textured_obj_zip())
    out = tmp_path / "out"

    assert main(["convert", str(source), "-o", str(out), "--web-textures", "ktx2"]) == 0

    report = json.loads((out / "report.json").read_text())
    web = next(step for step in report["steps"] if step["name"] == "export_web_glb")
    assert "1 texture(s) re-encoded as KTX2 (ETC1S for colour, UASTC for data)" in web["details"]["dropped"]
    assert b"KHR_texture_basisu" in (out / "model.web.glb").read_bytes()[:4000]
    assert b"KHR_texture_basisu" not in (out / "model.glb").read_bytes()[:4000]  # AR stays plain


def test_convert_holds_textures_to_the_video_memory_it_is_given(tmp_path: Path, capsys):
    source = tmp_path / "box.zip"
    source.write_bytes(textured_obj_zip(extra={"wood grain.png": checker_png(2048)}))
    out = tmp_path / "out"

    assert main(["convert", str(source), "-o", str(out), "--max-texture-memory", "8"]) == 0

    report = json.loads((out / "report.json").read_text())
    textures = next(step for step in report["steps"] if step["name"] == "textures")["details"]
    assert textures["textures"][0]["after"] == [1024, 1024]
    assert (report["input"]["texture_memory_mib"], report["output"]["texture_memory_mib"]) == (21.3, 5.3)
    assert "texture memory (MiB)                        21.3                       5.3" in capsys.readouterr().out
    assert any("1 texture(s) reduced to fit the texture memory budget" in w for w in report["warnings"])


def test_convert_measures_the_error_with_the_samples_it_is_given(tmp_path: Path, capsys):
    source = tmp_path / "ball.stl"
    source.write_bytes(trimesh.creation.icosphere(subdivisions=4).export(file_type="stl"))

    for samples in ("3000", "0"):
        out = tmp_path / samples
        assert main(["convert", str(source), "-o", str(out), "--unit", "cm", "--max-triangles", "500",
                     "--error-samples", samples]) == 0
        report = json.loads((out / "report.json").read_text())
        decimate = next(step for step in report["steps"] if step["name"] == "decimate")["details"]
        if samples == "0":
            assert "surface_error" not in decimate
        else:
            assert decimate["surface_error"]["samples"] == 3000 and decimate["surface_error"]["hausdorff"] > 0


def test_convert_moves_vertices_unless_told_not_to(tmp_path: Path, capsys):
    source = tmp_path / "ball.stl"
    source.write_bytes(trimesh.creation.icosphere(subdivisions=4).export(file_type="stl"))

    for flag, moved in (([], True), (["--no-optimize-vertices"], False), (["--optimize-vertices"], True)):
        out = tmp_path / (flag[0] if flag else "default")
        assert main(["convert", str(source), "-o", str(out), "--unit", "cm", "--max-triangles", "500", *flag]) == 0
        report = json.loads((out / "report.json").read_text())
        assert any("optimize_vertices" in line for line in report["assumptions"]) is moved, flag


def test_convert_refused_input_exits_1_with_the_code(tmp_path: Path, capsys):
    source = tmp_path / "notes.txt"
    source.write_bytes(b"\x00\x01 not a model at all")
    assert main(["convert", str(source), "-o", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith("error UNSUPPORTED_FORMAT: ")


def test_the_script_leaves_at_once_after_convert_with_everything_written(tmp_path: Path):
    """api/script.py forks usd-core's process first and skips interpreter teardown after convert:
    the table, the files and the exit code must all be there."""
    source = tmp_path / "cube.stl"
    source.write_bytes(trimesh.creation.box(extents=(100, 100, 100)).export(file_type="stl"))
    out = tmp_path / "out"
    done = _vitrine3d("convert", str(source), "-o", str(out), "--unit", "cm", env={})
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith(f"{out / 'report.json'}")
    assert "[100%] done" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["model.glb", "model.usdz", "model.web.glb", "report.json"]
    refused = _vitrine3d("convert", str(tmp_path / "out" / "report.json"), "-o", str(tmp_path / "x"), env={})
    assert refused.returncode == 1 and refused.stderr.splitlines()[-1].startswith("error UNSUPPORTED_FORMAT: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("200x90x85cm", (200, 90, 85, "cm")),
        ("1.2x0.75x0.6m", (1.2, 0.75, 0.6, "m")),
        ("80X40X30IN", (80, 40, 30, "in")),
    ],
)
def test_dimensions_argument(text: str, expected: tuple):
    dims = _dimensions(text)
    assert (dims.width, dims.height, dims.depth, dims.unit) == expected


@pytest.mark.parametrize("text", ["200x90cm", "200x90x85", "0x90x85cm", "200x90x85furlong", "-1x2x3m"])
def test_bad_dimensions_are_a_usage_error(text: str, tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["convert", str(tmp_path / "x.stl"), "-o", str(tmp_path), "--dimensions", text])
    assert exit_.value.code == 2 and "--dimensions" in capsys.readouterr().err


def test_report_table_lines_up_input_and_output():
    stats = {"vertices": 8, "meshes": 1, "instances": 2, "materials": 1, "textures": 0}
    report = {
        "input": {"triangles": 1_500_000, **stats, "size": [200.0, 90.0, 85.0]},
        "output": {
            "triangles": 100_000,
            **stats,
            "size": [2.0, 0.9, 0.85],
            "files": {"glb": 2_345_678, "usdz": 3_456_789},
        },
        "dimensions_m": {"width": 2.0, "height": 0.9, "depth": 0.85},
        "steps": [
            {"name": "load", "seconds": 1.25, "triangles_before": None, "triangles_after": 1_500_000},
            {"name": "decimate", "seconds": 2.5, "triangles_before": 1_500_000, "triangles_after": 100_000},
        ],
        "assumptions": ["unit guessed: mm"],
        "warnings": [],
    }
    table = format_report(report, input_bytes=12_345_678)
    lines = table.splitlines()
    assert any(line.startswith("triangles") and line.split()[1:] == ["1,500,000", "100,000"] for line in lines)
    assert any(
        line.startswith("bytes (input → glb)") and line.split()[-2:] == ["12,345,678", "2,345,678"] for line in lines
    )
    assert "decimate            2.500  1,500,000 → 100,000" in table
    assert "total               3.750" in table
    assert "width 2.000 × height 0.900 × depth 0.850" in table
    assert "  - unit guessed: mm" in table and "warnings" not in table


def test_keys_carry_scopes_are_listed_without_secrets_and_revoked_by_id(app_settings):
    env = {"VITRINE_DATABASE_URL": app_settings.database_url}
    key = _vitrine3d("keys", "create", "--scopes", "read", "--name", "dashboard", env=env).stdout.strip()
    assert _vitrine3d("keys", "create", "--scopes", "read,root", env=env).returncode == 2
    listed = _vitrine3d("keys", "list", env=env)
    assert listed.returncode == 0 and key not in listed.stdout
    row = next(line for line in listed.stdout.splitlines() if "dashboard" in line)
    assert " read " in row and "default" in row
    with TestClient(create_app(app_settings)) as client:
        headers = {"Authorization": f"Bearer {key}"}
        assert client.get("/v1/products", headers=headers).status_code == 200
        assert client.post("/v1/products", json={"sku": "A", "name": "A"}, headers=headers).status_code == 403
        assert _vitrine3d("keys", "revoke", row.split()[0], env=env).returncode == 0
        assert client.get("/v1/products", headers=headers).status_code == 401
