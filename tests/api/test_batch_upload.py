"""`vitrine3d upload`, without a server: reading the catalog (CSV and XLSX), checking every row and
file at once, matching files to rows, the idempotency keys, and the client's retries and resumes
(against an in-memory stand-in for the /v1 calls it makes). tests/e2e/test_batch_upload_e2e.py
runs it against the real server."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from pathlib import Path

import httpx
import openpyxl
import pytest
from rich.console import Console

from api import batch_upload
from api.batch_upload import (
    ApiClient,
    BatchUploader,
    CatalogError,
    Display,
    Entry,
    FileIndex,
    idempotency_key,
    read_catalog,
    validate,
)
from api.cli import main

GLB = b"glTF\x02\x00\x00\x00" + b"\x00" * 64  # what processing.ingest.sniff takes for a GLB
STL = b"solid box\nfacet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\nendloop\nendfacet\nendsolid\n"
HEADER = "sku,name,file,width,height,depth,unit,placement"


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def catalog_csv(tmp_path: Path, *lines: str, header: str = HEADER) -> Path:
    return write(tmp_path / "products.csv", "\n".join((header, *lines)) + "\n")


# Reading ----------------------------------------------------------------------------------------


def test_csv_columns_are_matched_loosely_and_rows_keep_their_spreadsheet_numbers(tmp_path):
    path = write(
        tmp_path / "products.csv",
        "\ufeff SKU ;Name;Width;Height;Depth;Unit;Notes\n"  # a BOM, spaces, capitals, ';' (European Excel)
        'SOFA-1;"Sofa;\nthree seats";200;90;85;cm;ignored\n'  # a quoted line break stays in one row
        ";;;;;;\n"  # blank rows (trailing ones are common) are not rows
        "CHAIR-2;Chair;50;80;55;cm;\n",
    )
    rows = read_catalog(path)
    assert [(row.number, row.cells["sku"], row.cells["name"]) for row in rows] == [
        (2, "SOFA-1", "Sofa;\nthree seats"),
        (4, "CHAIR-2", "Chair"),
    ]
    assert rows[0].cells["file"] == rows[0].cells["placement"] == ""  # optional columns may be absent
    assert "notes" not in rows[0].cells


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"sku,name,width\nA,B,1\n", "missing: height, depth, unit"),
        (b"sku,name,width,height,depth,unit,sku\n", "named twice: sku"),
        ("sku,name,width,height,depth,unit\nCAF\xc9,x,1,1,1,cm\n".encode("cp1252"), "not UTF-8"),
    ],
)
def test_an_unusable_catalog_is_one_error(tmp_path, content, message):
    with pytest.raises(CatalogError, match=message):
        read_catalog(write(tmp_path / "products.csv", content))


def test_xlsx_catalog_reads_like_csv_with_numbers_as_cells(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["sku", "name", "file", "width", "height", "depth", "unit", "placement", "price"])
    sheet.append(["SOFA-1", "Sofa", "sofa.glb", 200, 90.5, 85, "CM", "Floor", "$1,299"])
    sheet.append([None] * 9)
    sheet.append(["MIRROR-2", "Mirror", None, 60, 120, 3, "cm", "wall", None])
    workbook.save(tmp_path / "products.xlsx")
    write(tmp_path / "files" / "sofa.glb", GLB)
    write(tmp_path / "files" / "MIRROR-2.stl", STL)

    rows = read_catalog(tmp_path / "products.xlsx")
    entries, problems = validate(rows, tmp_path / "files")

    assert problems == []
    assert [(e.row, e.product, e.file.name) for e in entries] == [
        (2, {"sku": "SOFA-1", "name": "Sofa", "price": "$1,299", "placement": "floor",
             "dimensions": {"width": 200.0, "height": 90.5, "depth": 85.0, "unit": "cm"}}, "sofa.glb"),
        (4, {"sku": "MIRROR-2", "name": "Mirror", "placement": "wall",
             "dimensions": {"width": 60.0, "height": 120.0, "depth": 3.0, "unit": "cm"}}, "MIRROR-2.stl"),
    ]


def test_xlsx_without_openpyxl_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openpyxl", None)  # what `import openpyxl` meets when it is not installed
    with pytest.raises(CatalogError, match=r"pip install 'vitrine3d\[xlsx\]'"):
        read_catalog(write(tmp_path / "products.xlsx", b"PK"))


# Validating -------------------------------------------------------------------------------------


def test_every_problem_of_every_row_is_reported_at_once(tmp_path):
    files = tmp_path / "files"
    write(files / "good.glb", GLB)
    write(files / "AMBI.glb", GLB)
    write(files / "ambi.stl", STL)
    write(files / "corrupt.glb", b"\x00not a model" * 10)
    write(files / "empty.obj", b"")
    write(files / "notes.txt", "hello")
    path = catalog_csv(
        tmp_path,
        "GOOD,Good,good.glb,10,20,30,cm,floor",
        "TWICE,One,good.glb,10,20,30,cm,floor",
        "twice,Two,good.glb,10,20,30,cm,floor",
        "NUMBERS,Numbers,good.glb,1.5.0,0,-3,cm,floor",
        "UNITS,Units,good.glb,1,1,1,inch,ceiling",
        "bad sku!,Bad sku,good.glb,1,1,1,m,floor",
        "MISSING,Missing,nowhere.glb,1,1,1,m,floor",
        "AMBI,Ambiguous,,1,1,1,m,floor",
        "NOSTEM,No file by stem,,1,1,1,m,floor",
        "CORRUPT,Corrupt,corrupt.glb,1,1,1,m,floor",
        "EMPTY,,empty.obj,1,1,1,,",
        "TEXT,Text,notes.txt,1,1,1,m,floor",
    )

    entries, problems = validate(read_catalog(path), files)

    assert [e.sku for e in entries] == ["GOOD"]
    found = [(p.row, p.message) for p in problems]
    assert found == [
        (3, "duplicate sku (also on row 4)"),
        (4, "duplicate sku (also on row 3)"),
        (5, "width '1.5.0': not a number"),
        (5, "height '0': input should be greater than 0"),
        (5, "depth '-3': input should be greater than 0"),
        (6, "unit 'inch': input should be 'mm', 'cm', 'm', 'in' or 'ft'"),
        (6, "placement 'ceiling': input should be 'floor' or 'wall'"),
        (7, "sku 'bad sku!': letters, digits, '.', '_' and '-' only, starting with a letter or digit, at most 64"),
        (8, f"file 'nowhere.glb' not found in {files}"),
        (9, "ambiguous: AMBI.glb, ambi.stl all match; name one in the file column"),
        (10, f"no file named NOSTEM.<extension> in {files} (or name it in the file column)"),
        (11, "corrupt.glb is not a 3D file the server reads (corrupt, or not the format its name says)"),
        (12, "name: missing"),
        (12, "unit: missing"),
        (12, "empty.obj is empty"),
        (13, found[-1][1]),
    ]
    assert found[-1][1].startswith("notes.txt: unsupported extension")


def test_dry_run_prints_every_problem_and_uploads_nothing(tmp_path, capsys):
    write(tmp_path / "files" / "A.glb", GLB)
    path = catalog_csv(tmp_path, "A,Chair,,1,1,1,cm,floor", "B,Table,,1,x,1,cm,floor")
    # No key and no server: a dry run needs neither.
    code = main(["upload", str(tmp_path / "files"), "--catalog", str(path), "--dry-run", "--api", "http://127.0.0.1:9"])
    out = capsys.readouterr().out
    assert code == 1
    assert "row 3 (B): height 'x': not a number" in out
    assert "row 3 (B): no file named B.<extension>" in out
    assert "2 rows: 1 ready, 1 with problems (2 in all); nothing uploaded (dry run)" in out


def test_dry_run_of_a_clean_catalog_succeeds(tmp_path, capsys):
    write(tmp_path / "files" / "A.glb", GLB)
    path = catalog_csv(tmp_path, "A,Chair,,1,1,1,cm,floor")
    assert main(["upload", str(tmp_path / "files"), "--catalog", str(path), "--dry-run"]) == 0
    assert "1 rows: 1 ready, 0 with problems" in capsys.readouterr().out


def test_a_real_run_needs_a_key(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("VITRINE_API_KEY", raising=False)
    write(tmp_path / "files" / "A.glb", GLB)
    path = catalog_csv(tmp_path, "A,Chair,,1,1,1,cm,floor")
    assert main(["upload", str(tmp_path / "files"), "--catalog", str(path)]) == 2
    assert "no API key" in capsys.readouterr().err


# Matching files ---------------------------------------------------------------------------------


def test_files_match_by_file_column_or_by_sku_stem_case_insensitively(tmp_path):
    write(tmp_path / "Sofa.GLB", GLB)
    write(tmp_path / "sub" / "Chair.stl", STL)
    write(tmp_path / "sub" / "readme.txt", "not a model")
    write(tmp_path / ".hidden" / "LAMP.glb", GLB)  # hidden folders are not the supplier's files
    index = FileIndex(tmp_path)

    assert index.find("Sofa.GLB", "X") == (tmp_path / "Sofa.GLB", [])
    assert index.find("sofa.glb", "X") == (tmp_path / "Sofa.GLB", [])  # a Windows supplier's spelling
    assert index.find("./sub\\chair.STL", "X") == (tmp_path / "sub" / "Chair.stl", [])
    assert index.find("", "SOFA") == (tmp_path / "Sofa.GLB", [])
    assert index.find("", "chair") == (tmp_path / "sub" / "Chair.stl", [])
    assert index.find("", "readme")[0] is None  # only model extensions match a sku
    assert index.find("", "lamp")[0] is None


def test_a_file_column_picks_between_files_a_stem_cannot(tmp_path):
    write(tmp_path / "sofa.glb", GLB)
    write(tmp_path / "SOFA.zip", b"PK\x05\x06" + b"\x00" * 18)
    write(tmp_path / "Dup.glb", GLB)
    write(tmp_path / "dup.GLB", GLB)
    index = FileIndex(tmp_path)
    assert index.find("", "sofa") == (None, ["ambiguous: SOFA.zip, sofa.glb all match; name one in the file column"])
    assert index.find("SOFA.zip", "sofa") == (tmp_path / "SOFA.zip", [])
    assert index.find("Dup.glb", "x") == (tmp_path / "Dup.glb", [])  # an exact name wins over case-folding
    assert index.find("DUP.glb", "x")[1] == ["ambiguous: Dup.glb, dup.GLB all match; name one in the file column"]


# Idempotency keys -------------------------------------------------------------------------------

SOFA = {"sku": "SOFA-1", "name": "Sofa", "placement": "floor",
        "dimensions": {"width": 200.0, "height": 90.0, "depth": 85.0, "unit": "cm"}}
SHA = "a" * 64


def test_idempotency_key_is_stable_and_depends_only_on_what_the_conversion_uses():
    key = idempotency_key("SOFA-1", SHA, SOFA)
    assert key == idempotency_key("SOFA-1", SHA, {**SOFA, "name": "Renamed", "price": "$1"})
    assert len(key) <= 128 and key.isascii() and " " not in key
    variants = {
        idempotency_key("SOFA-2", SHA, SOFA),
        idempotency_key("SOFA-1", "b" * 64, SOFA),
        idempotency_key("SOFA-1", SHA, {**SOFA, "placement": "wall"}),
        idempotency_key("SOFA-1", SHA, {**SOFA, "dimensions": {**SOFA["dimensions"], "depth": 86.0}}),
        idempotency_key("SOFA-1", SHA, SOFA, after_job="job-1"),
        idempotency_key("SOFA-1", SHA, SOFA, after_job="job-2"),
    }
    assert key not in variants and len(variants) == 6


# The client, against an in-memory API -----------------------------------------------------------


class FakeApi:
    """The /v1 calls of a batch upload, kept in memory: products, jobs by idempotency key, and
    scripted job endings ("succeeded" or an error code) in the order jobs are made."""

    def __init__(self, endings: list[str], drop_first_upload: bool = False):
        self.endings = endings
        self.drop_first_upload = drop_first_upload
        self.products: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self.keys: dict[str, str] = {}
        self.uploads: list[tuple[str, int]] = []  # (idempotency key, bytes received)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/products" and request.method == "GET":
            return httpx.Response(200, json={"products": []})
        if path == "/v1/products":
            body = json.loads(request.content)
            self.products[body["sku"]] = body
            return httpx.Response(201, json=body)
        if path.startswith("/v1/jobs/"):
            return httpx.Response(200, json=self.jobs[path.rsplit("/", 1)[1]])
        sku = path.split("/")[3]
        if sku not in self.products:
            return httpx.Response(404, json={"error": {"code": "NOT_FOUND", "message": "Product not found."}})
        if request.method == "GET":
            return httpx.Response(200, json=self.products[sku])
        if request.method == "PATCH":
            self.products[sku] |= json.loads(request.content)
            return httpx.Response(200, json=self.products[sku])
        return self._upload(request, sku)

    def _upload(self, request: httpx.Request, sku: str) -> httpx.Response:
        key = request.headers["Idempotency-Key"]
        body = request.read()
        self.uploads.append((key, len(body)))
        if key not in self.keys:
            ending = self.endings.pop(0)
            job = {"id": f"job-{len(self.jobs) + 1}", "sku": sku, "status": "succeeded", "progress": 1.0}
            if ending != "succeeded":
                job |= {"status": "failed", "error": {"code": ending, "message": f"{ending} happened"}}
            else:
                sha256 = hashlib.sha256(body.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0]).hexdigest()
                self.products[sku]["source"] = {"sha256": sha256}
            self.jobs[job["id"]] = job
            self.keys[key] = job["id"]
        if self.drop_first_upload:
            self.drop_first_upload = False
            raise httpx.ReadError("connection reset by peer")  # the job exists, its answer is lost
        return httpx.Response(202, json={"job": {"id": self.keys[key], "status": "queued"}})


def upload_all(api: FakeApi, entries: list[Entry]) -> list[batch_upload.Outcome]:
    client = ApiClient("http://vitrine.test", "key", transport=httpx.MockTransport(api), backoff=0.0)
    display = Display(Console(file=io.StringIO()), len(entries))
    with display:
        return BatchUploader(client, display, poll_seconds=0.0).run(entries, jobs=2)


@pytest.fixture
def sofa(tmp_path) -> Entry:
    return Entry(2, SOFA, write(tmp_path / "SOFA-1.glb", GLB))


def test_a_lost_answer_is_resent_under_the_same_key_and_makes_one_job(sofa):
    api = FakeApi(["succeeded"], drop_first_upload=True)
    [outcome] = upload_all(api, [sofa])
    assert (outcome.status, outcome.detail) == ("ok", "created; published (job job-1)")
    assert len(api.jobs) == 1
    [(first_key, first_size), (second_key, second_size)] = api.uploads
    assert first_key == second_key and first_size == second_size  # the whole file again, same key


def test_infrastructure_failures_get_a_new_job_and_a_rerun_skips_the_published_file(sofa):
    api = FakeApi(["INTERRUPTED", "succeeded"])
    [outcome] = upload_all(api, [sofa])
    assert outcome.status == "ok" and len(api.jobs) == 2
    first, second = (key for key, _ in api.uploads)
    assert first != second

    [again] = upload_all(api, [sofa])
    assert (again.status, again.detail) == ("skipped", "already published from this file")
    assert len(api.uploads) == 2


def test_a_bad_file_is_not_retried_and_a_rerun_gets_its_job_back(sofa):
    api = FakeApi(["DIMENSIONS_MISMATCH"])
    for _ in range(2):
        [outcome] = upload_all(api, [sofa])
        assert (outcome.status, outcome.detail) == ("failed", "DIMENSIONS_MISMATCH: DIMENSIONS_MISMATCH happened")
    assert len(api.jobs) == 1


def test_new_dimensions_are_patched_and_the_model_converted_again(sofa):
    api = FakeApi(["succeeded", "succeeded"])
    upload_all(api, [sofa])
    bigger = Entry(2, {**SOFA, "dimensions": {**SOFA["dimensions"], "width": 210.0}}, sofa.file)
    [outcome] = upload_all(api, [bigger])
    assert (outcome.status, outcome.detail) == ("ok", "updated dimensions; published (job job-2)")
    assert api.products["SOFA-1"]["dimensions"]["width"] == 210.0

    renamed = Entry(2, {**bigger.product, "name": "Big sofa"}, sofa.file)
    [outcome] = upload_all(api, [renamed])
    assert (outcome.status, outcome.detail) == ("ok", "updated name; model already published from this file")
    assert len(api.jobs) == 2


def test_summary_and_exit_code_of_a_run(tmp_path, monkeypatch):
    write(tmp_path / "files" / "A.glb", GLB)
    path = catalog_csv(tmp_path, "A,Chair,,1,1,1,cm,floor", "B,Table,,1,1,1,cm,floor")
    api = FakeApi(["BAD_GEOMETRY"])
    real_client = ApiClient
    monkeypatch.setattr(batch_upload, "ApiClient",
                        lambda url, key: real_client(url, key, transport=httpx.MockTransport(api), backoff=0.0))
    out = io.StringIO()
    args = argparse.Namespace(directory=tmp_path / "files", catalog=path, api="http://vitrine.test", key="k",
                              jobs=1, dry_run=False)
    code = batch_upload.run(args, out=Console(file=out, width=200), err=Console(file=io.StringIO()))
    assert code == 1
    text = out.getvalue()
    assert "BAD_GEOMETRY: BAD_GEOMETRY happened" in text
    assert "no file named B.<extension>" in text
    assert "0 ok, 1 failed, 1 skipped" in text
