"""meshopt_wasm: meshoptimizer 1.3's simplifier from its npm package, run by wasmtime."""
import subprocess
import sys

import numpy as np
import pytest

from processing import meshopt, meshopt_wasm

from .inputs import sphere


def _ball(subdivisions: int = 4):
    mesh = sphere(subdivisions, radius=1.0)
    return mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32)


def _mean_radial_error(positions: np.ndarray, faces: np.ndarray) -> float:
    """How far the triangles' surface lies from the unit sphere, sampled at barycentric grid points."""
    weights = np.array([(a, b, 1 - a - b) for a in np.linspace(0, 1, 7) for b in np.linspace(0, 1, 7) if a + b <= 1])
    corners = positions[faces].astype(np.float64)  # (k, 3 corners, 3)
    points = np.einsum("wc,kcx->kwx", weights, corners)
    return float(np.abs(np.linalg.norm(points, axis=2) - 1).mean())


def test_the_module_is_read_from_the_pinned_npm_package():
    assert meshopt_wasm.package_file().parent.name == "meshoptimizer"
    assert meshopt_wasm.wasm_bytes(meshopt_wasm.package_file())[:4] == b"\0asm"


def test_kept_vertices_move_to_fit_the_surface_better_than_a_plain_collapse():
    positions, faces = _ball()
    moved = meshopt_wasm.simplify_with_update(positions, faces, 400, None, [], 1.0, 0)
    kept, _ = meshopt.simplify(positions, faces, 400)
    assert 300 < len(moved.faces) <= 400 and 300 < len(kept) <= 400
    used = np.unique(moved.faces)
    assert not np.isin(moved.positions[used].view("V12"), positions.view("V12")).all(), "no vertex moved"
    assert _mean_radial_error(moved.positions, moved.faces) < 0.7 * _mean_radial_error(positions, kept)
    assert 0 < moved.error < 0.05


def test_attributes_are_updated_with_the_positions():
    positions, faces = _ball()
    normals = positions / np.linalg.norm(positions, axis=1, keepdims=True)
    moved = meshopt_wasm.simplify_with_update(positions, faces, 400, normals, [1.0, 1.0, 1.0], 1.0, 0)
    used = np.unique(moved.faces)
    solved = moved.attributes[used] / np.linalg.norm(moved.attributes[used], axis=1, keepdims=True)
    direction = moved.positions[used] / np.linalg.norm(moved.positions[used], axis=1, keepdims=True)
    assert np.einsum("ij,ij->i", solved, direction).min() > 0.99  # a sphere's normal is its radius


def test_an_absolute_error_limit_stops_the_collapse():
    positions, faces = _ball()
    loose = meshopt_wasm.simplify_with_update(positions, faces, 0, None, [], 1e-2, meshopt.ERROR_ABSOLUTE)
    tight = meshopt_wasm.simplify_with_update(positions, faces, 0, None, [], 1e-4, meshopt.ERROR_ABSOLUTE)
    assert len(loose.faces) < len(tight.faces) <= len(faces)
    assert loose.error <= 1e-2


def test_a_missing_package_is_named_with_how_to_install_it(monkeypatch):
    monkeypatch.setattr(meshopt_wasm, "PACKAGE_FILE", meshopt_wasm.PACKAGE_FILE.with_name("no-such-file.js"))
    with pytest.raises(FileNotFoundError, match="make setup"):
        meshopt_wasm.package_file()


def test_it_runs_under_a_conversions_address_space_limit():
    """The service's conversion processes run under RLIMIT_AS (SECURITY.md: 4 GiB), where wasmtime's
    default reservation of 4 GiB plus guard pages per memory cannot be mapped."""
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
        "import numpy as np\n"
        "from processing import meshopt_wasm\n"
        "from tests.processing.inputs import sphere\n"
        "mesh = sphere(5, radius=1.0)\n"
        "done = meshopt_wasm.simplify_with_update(mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32),"
        " 1000, None, [], 1.0, 0)\n"
        "print(len(done.faces))\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert 800 < int(ran.stdout) <= 1000


def test_memory_the_module_cannot_get_is_a_memory_error_never_a_write_outside_it():
    engine, module = meshopt_wasm._compiled()
    heap = meshopt_wasm._Heap(engine, module)
    size = heap.memory.data_len(heap.store)
    for at, length in ((0xFFFFFFFF, 4), (size - 2, 4)):  # sbrk's -1 (could not grow), a block past the end
        with pytest.raises(MemoryError, match="could not grow"):
            heap._address(at, length)
    with pytest.raises(MemoryError, match="could not grow"):  # a failed allocation inside: it traps
        heap.call("meshopt_simplifyWithUpdate", size - 4, 3, size - 4, 3, 12, 0, 0, 0, 0, 0, 3, 1.0, 0, size - 4)


def test_a_module_instance_that_cannot_reserve_its_memory_is_a_memory_error():
    """Near the job's address-space limit the instance's memory cannot even be reserved."""
    code = (
        "import resource, numpy as np\n"
        "from processing import meshopt_wasm\n"
        "from tests.processing.inputs import sphere\n"
        "mesh = sphere(3, radius=1.0)\n"
        "meshopt_wasm._compiled.cache_clear()\n"
        "size = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmSize')) << 10\n"
        "resource.setrlimit(resource.RLIMIT_AS, (size + (64 << 20), size + (64 << 20)))\n"
        "try:\n"
        "    meshopt_wasm.simplify_with_update(mesh.vertices.astype(np.float32), mesh.faces.astype(np.uint32),"
        " 100, None, [], 1.0, 0)\n"
        "except MemoryError as exc:\n"
        "    print('MemoryError:', exc, '/', exc.__cause__)\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert ran.stdout.startswith("MemoryError: meshoptimizer's simplifier could not grow its memory"), ran.stderr[-2000:]
    assert "failed to reserve" in ran.stdout  # wasmtime's own reason, kept as the cause
