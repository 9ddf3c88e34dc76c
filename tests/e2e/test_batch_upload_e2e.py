"""`vitrine3d upload` as a catalog team runs it: the real command in its own process, against the
real server (tests/e2e/conftest.py), with models from the shared corpus of third-party files.

A first run gives the right summary (published, wrong dimensions, a missing file, a corrupt file);
a second run converts nothing again; a run killed mid-way resumes without a second job per product.
The corpus sits beside the checkout (../shared/corpus): on a bare local clone these tests skip,
under CI they fail when it is missing.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from .conftest import VITRINE3D, Server

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "models"
BOX = "boxtextured/BoxTextured.glb"  # a 1 m cube, 12 triangles: the fastest conversion there is
SUZANNE = "suzanne/suzanne.ply"  # no unit; 2.734 x 1.969 x 1.703 in its own units
HEADER = "sku,name,file,width,height,depth,unit,placement"
RUN_TIMEOUT = 600.0


@pytest.fixture(scope="module")
def corpus() -> Path:
    if not CORPUS.is_dir():
        assert not os.environ.get("CI"), f"the shared corpus is missing at {CORPUS}"
        pytest.skip("the shared corpus is not next to this checkout (CI requires it)")
    return CORPUS


@pytest.fixture(scope="module")
def api(server: Server):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.api_key}"},
                      timeout=60.0, trust_env=False) as client:
        yield client


def upload_command(server: Server, folder: Path, catalog: Path, jobs: int) -> tuple[list[str], dict[str, str]]:
    command = [str(VITRINE3D), "upload", str(folder), "--catalog", str(catalog), "--api", server.url,
               "--jobs", str(jobs)]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("VITRINE_") and "proxy" not in k.lower()},
           "VITRINE_API_KEY": server.api_key, "COLUMNS": "400"}  # a wide summary: one line per row
    return command, env


def run_upload(server: Server, folder: Path, catalog: Path, jobs: int = 2) -> tuple[int, dict[str, tuple[str, str]]]:
    command, env = upload_command(server, folder, catalog, jobs)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    return done.returncode, summary(done.stdout)


def summary(stdout: str) -> dict[str, tuple[str, str]]:
    """The summary table's rows: sku → (status, detail)."""
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 4 and cells[0].isdigit():
            rows[cells[1]] = (cells[2], cells[3])
    return rows


def jobs_of(api: httpx.Client, sku: str) -> list[dict]:
    response = api.get(f"/v1/products/{sku}/jobs")
    if response.status_code == 404:
        return []
    assert response.status_code == 200, response.text
    return response.json()["jobs"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_catalog_is_uploaded_then_a_rerun_converts_nothing_again(server, api, corpus, tmp_path):
    folder = tmp_path / "supplier"
    folder.mkdir()
    shutil.copyfile(corpus / BOX, folder / "cube.glb")
    shutil.copyfile(corpus / SUZANNE, folder / "bu-monkey.PLY")  # found by its sku, whatever the case
    # Sniffs as a GLB (so it passes the local check) but its header lies: the server refuses it.
    (folder / "broken.glb").write_bytes(b"glTF\x02\x00\x00\x00\xff\x00\x00\x00" + b"garbage" * 20)
    catalog = tmp_path / "products.csv"
    catalog.write_text("\n".join([
        HEADER,
        "BU-CUBE,Cube,cube.glb,100,100,100,cm,floor",
        "BU-MONKEY,Monkey,,273.4,196.9,170.3,cm,floor",
        "BU-WRONG,Cube said to be flat,cube.glb,200,50,100,cm,floor",
        "BU-GONE,Missing,gone.glb,1,1,1,m,floor",
        "BU-BROKEN,Broken,broken.glb,1,1,1,m,floor",
    ]) + "\n")

    code, rows = run_upload(server, folder, catalog)

    assert code == 1, server.log_tail()
    assert {sku: status for sku, (status, _) in rows.items()} == {
        "BU-CUBE": "ok", "BU-MONKEY": "ok",
        "BU-WRONG": "failed", "BU-GONE": "skipped", "BU-BROKEN": "failed",
    }, rows
    assert rows["BU-WRONG"][1].startswith("DIMENSIONS_MISMATCH: Declared 200 x 50 x 100 cm")
    assert rows["BU-BROKEN"][1].startswith("CORRUPT_FILE: ")
    assert rows["BU-GONE"][1] == f"file 'gone.glb' not found in {folder}"
    published = {"BU-CUBE": "cube.glb", "BU-MONKEY": "bu-monkey.PLY"}
    for sku, name in published.items():
        product = api.get(f"/v1/products/{sku}").json()
        assert product["source"]["sha256"] == sha256(folder / name)
        assert product["dimensions"]["unit"] == "cm" and "glb" in product["assets"]
    assert api.get("/v1/products/BU-GONE").status_code == 404  # a skipped row sends nothing
    jobs_before = {sku: [job["id"] for job in jobs_of(api, sku)] for sku in rows}
    assert all(len(ids) == 1 for sku, ids in jobs_before.items() if sku != "BU-GONE"), jobs_before

    code, again = run_upload(server, folder, catalog)

    assert code == 1
    assert again["BU-CUBE"] == again["BU-MONKEY"] == ("skipped", "already published from this file")
    assert again["BU-WRONG"] == rows["BU-WRONG"] and again["BU-BROKEN"] == rows["BU-BROKEN"]  # the same jobs, told again
    assert {sku: [job["id"] for job in jobs_of(api, sku)] for sku in rows} == jobs_before


def test_a_killed_run_resumes_without_a_second_job(server, api, corpus, tmp_path):
    folder = tmp_path / "supplier"
    folder.mkdir()
    skus = ["BU-KILL-1", "BU-KILL-2"]
    for sku in skus:
        shutil.copyfile(corpus / BOX, folder / f"{sku.lower()}.glb")
    catalog = tmp_path / "products.csv"
    catalog.write_text("\n".join([HEADER, *(f"{sku},Cube,,1,1,1,m,floor" for sku in skus)]) + "\n")

    command, env = upload_command(server, folder, catalog, jobs=1)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while not jobs_of(api, skus[0]):  # killed once its first job exists, while it follows it
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    started = {sku: [job["id"] for job in jobs_of(api, sku)] for sku in skus}
    assert len(started[skus[0]]) == 1 and started[skus[1]] == [], started

    code, rows = run_upload(server, folder, catalog, jobs=2)

    assert code == 0, (rows, server.log_tail())
    assert {sku: status for sku, (status, _) in rows.items()} == dict.fromkeys(skus, "ok")
    finished = {sku: [job["id"] for job in jobs_of(api, sku)] for sku in skus}
    assert all(len(ids) == 1 for ids in finished.values()), finished
    for sku, ids in started.items():
        assert ids in ([], finished[sku])  # a job the killed run started was followed, not made again
