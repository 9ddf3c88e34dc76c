"""meshoptimizer 1.3's simplifier, from the WebAssembly build in its npm package, run in this process
by wasmtime.

Why: its `simplifyWithUpdate` collapses edges like `meshopt_simplifyWithAttributes` (seams, borders
and attribute discontinuities kept the same way), then moves every vertex that survived to where it
best stands for the surface it now replaces, and updates its attributes (normals, UVs) to match.
The simplifier in the PyPI `meshoptimizer` wheel (0.2.30a0, the newest) only picks among the
original vertices, and no PyPI package ships a newer native one (`meshopt` 0.1.1 vendors only the
codecs). The npm package the viewer already pins for its decoders (meshoptimizer 1.3.0) carries the
author's own WebAssembly build of the simplifier; wasmtime (PyPI) compiles and runs it here, with
the mesh copied into and out of its memory.

History (issue 3): in bench/optimize.py (quality.py's 100k samples, equal triangle counts, 18
pairs) the median Hausdorff error went from 0.88x gltfpack's to 0.78x and the mean error to 0.49x
(0.99x and 0.74x `gltfpack -sv`, gltfpack's own use of this function); Hausdorff before -> after:
capsule 7.6e-3 -> 4.2e-3, fandisk 4.0e-3 -> 2.2e-3, Duck 5.5e-3 -> 4.3e-3, tray 5.9e-3 -> 4.8e-3,
box 1.7e-2 -> 1.4e-2; chair and suzanne unchanged, bunny +4%. Vertices sharing a position across a
UV seam move together (checked on capsule, Duck, fuze: no seam opens).
Why not for every product (`optimize_vertices`, unset: up to `settings.OPTIMIZE_VERTICES_UP_TO`
triangles): time. The simplify takes 1.2-1.5x the native one without attributes, and a textured
part must put its UVs in the metric to have them solved: on the 650k-triangle stress capsule
1.1-1.5 s instead of 0.8 s; its whole conversion went from 1.06x to 1.59x gltfpack's time (same
day), past issue 3's limit of 1.5x. Under an address-space limit (the service) bounds checks make
it ~1.9x. The module is compiled once per process (~0.15 s on one core; `start_loading` runs it
beside repair).
Tried: simplifying natively to 2x or 4x the budget first and updating only the last stretch —
faster, but on the 1.9M-triangle model the Hausdorff error rose 1.7x (from 2x) and 3.6x (from 4x).
"""
from __future__ import annotations

import atexit
import ctypes
import re
import resource
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

PACKAGE_FILE = Path("node_modules", "meshoptimizer", "meshopt_simplifier.js")
INSTALL_HINT = "optimize_vertices needs the npm package meshoptimizer 1.3 (`make setup` installs it) and wasmtime (pip)"
# Under an address-space limit (a service conversion: SECURITY.md's 4 GiB) wasmtime's default
# reservation of 4 GiB plus guard pages per memory cannot be mapped; a smaller one costs bounds
# checks (the simplify ~1.9x slower) and growth beyond it moves the memory.
LIMITED_RESERVATION = 1 << 30
OUT_OF_MEMORY = "meshoptimizer's simplifier could not grow its memory (optimize_vertices)"
_loading: threading.Thread | None = None


@dataclass
class Simplified:
    faces: np.ndarray  # (k, 3) uint32, into the original vertex numbering
    error: float  # meshoptimizer's error reached (relative, or absolute with ERROR_ABSOLUTE)
    positions: np.ndarray  # every vertex, the kept ones moved
    attributes: np.ndarray | None  # likewise updated


def start_loading() -> None:
    """Compile the module in a thread, so a conversion that will decimate does not wait for it."""
    global _loading
    if _loading is None:
        _loading = threading.Thread(target=_compiled, name="meshopt-wasm", daemon=True)
        _loading.start()


def simplify_with_update(
    positions: np.ndarray,
    faces: np.ndarray,
    target_triangles: int,
    attributes: np.ndarray | None,
    weights: list[float],
    target_error: float,
    options: int,
) -> Simplified:
    """`meshopt_simplifyWithUpdate`: collapse to `target_triangles` or `target_error`, whichever
    first, then move the kept vertices and update their `attributes` (n x k, already scaled by the
    caller; `weights` per column). Options are meshoptimizer's flags (`meshopt.ERROR_ABSOLUTE`, ...)."""
    if _loading is not None:
        _loading.join()  # compiled there, or failed there and fails again here with its message
    engine, module = _compiled()
    heap = _Heap(engine, module)
    positions = np.ascontiguousarray(positions, dtype=np.float32)
    indices = np.ascontiguousarray(faces, dtype=np.uint32).reshape(-1)
    count = 0 if attributes is None else attributes.shape[1]
    error_at = heap.alloc(4)
    positions_at = heap.put(positions)
    attributes_at = heap.put(np.ascontiguousarray(attributes, dtype=np.float32)) if count else 0
    weights_at = heap.put(np.asarray(weights, dtype=np.float32)) if count else 0
    indices_at = heap.put(indices)
    kept = heap.call("meshopt_simplifyWithUpdate", indices_at, indices.size, positions_at, len(positions), 12,
                     attributes_at, count * 4, weights_at, count, 0, max(0, int(target_triangles)) * 3,
                     float(target_error), options, error_at)
    return Simplified(
        faces=heap.get(indices_at, np.uint32, kept).reshape(-1, 3),
        error=float(heap.get(error_at, np.float32, 1)[0]),
        positions=heap.get(positions_at, np.float32, positions.size).reshape(-1, 3),
        attributes=heap.get(attributes_at, np.float32, len(positions) * count).reshape(-1, count) if count else None,
    )


class _Heap:
    """One instance of the module (its own linear memory, freed with it) and copies in and out."""

    def __init__(self, engine, module):
        import wasmtime

        self.store = wasmtime.Store(engine)
        try:
            instance = wasmtime.Instance(self.store, module, [])
        except wasmtime.WasmtimeError as exc:  # the module imports nothing: only its memory can fail
            raise MemoryError(OUT_OF_MEMORY) from exc
        self.exports = instance.exports(self.store)
        self.exports["__wasm_call_ctors"](self.store)
        self.memory = self.exports["memory"]

    def call(self, name: str, *args):
        import wasmtime

        try:
            return self.exports[name](self.store, *args)
        except wasmtime.Trap as trap:
            # meshoptimizer does not check its allocations: when the memory cannot grow (the job's
            # address-space limit), the simplifier goes on with a failed allocation and traps.
            raise MemoryError(OUT_OF_MEMORY) from trap

    def alloc(self, size: int) -> int:
        return self.call("sbrk", size) & 0xFFFFFFFF  # a wasm32 address: unsigned (-1, failure, is past the end)

    def put(self, array: np.ndarray) -> int:
        at = self.alloc(array.nbytes)
        ctypes.memmove(self._address(at, array.nbytes), array.ctypes.data, array.nbytes)
        return at

    def get(self, at: int, dtype, count: int) -> np.ndarray:
        out = np.empty(count, dtype=dtype)
        ctypes.memmove(out.ctypes.data, self._address(at, out.nbytes), out.nbytes)
        return out

    def _address(self, at: int, size: int) -> int:
        """Where `size` bytes at `at` of the module's memory are now (growing moves it), checked to
        lie inside it: sbrk answers -1 when the memory could not grow."""
        if not 0 <= at <= self.memory.data_len(self.store) - size:
            raise MemoryError(OUT_OF_MEMORY)
        return ctypes.addressof(self.memory.data_ptr(self.store).contents) + at


@lru_cache(maxsize=1)
def _compiled():
    try:
        import wasmtime
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ImportError(f"wasmtime is missing: {INSTALL_HINT}") from exc
    config = wasmtime.Config()
    config.parallel_compilation = False  # no thread pool left behind in a process that forks
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        config.memory_reservation = min(LIMITED_RESERVATION, soft // 4)
        config.memory_guard_size = 0
    engine = wasmtime.Engine(config)
    atexit.register(_compiled.cache_clear)  # freed while wasmtime can still free it, not at teardown
    return engine, wasmtime.Module(engine, wasm_bytes(package_file()))


def package_file() -> Path:
    """The simplifier's JS file, found the way Node finds a package: in node_modules beside this
    folder or any folder above it (the checkout's root, or /usr/local/lib in the Docker image)."""
    for folder in Path(__file__).resolve().parents:
        candidate = folder / PACKAGE_FILE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"meshoptimizer's simplifier was not found: {INSTALL_HINT}")


def wasm_bytes(js_file: Path) -> bytes:
    """The WebAssembly module the JS file embeds. It is stored as text: each character is a 6-bit
    value (a-z, A-Z, then the characters below 'A'); a value under 60 stands for one byte of a
    60-entry table of common bytes (`wasmpack`), a larger one starts a pair giving one byte as
    (value - 60) * 64 + next value."""
    text = js_file.read_text()
    packed = re.search(r"var wasm =\s*'([^']*)'", text)
    table = re.search(r"var wasmpack = new Uint8Array\(\[([^\]]*)\]\)", text)
    if packed is None or table is None:
        raise ValueError(f"{js_file.name} is not a meshoptimizer simplifier build this code can read: {INSTALL_HINT}")
    common = [int(value) for value in table.group(1).split(",") if value.strip()]
    codes = np.frombuffer(packed.group(1).encode("ascii"), dtype=np.uint8).astype(np.int32)
    values = np.where(codes > 96, codes - 97, np.where(codes > 64, codes - 39, codes + 4)).tolist()
    out, i = bytearray(), 0
    while i < len(values):
        if values[i] < 60:
            out.append(common[values[i]])
        else:
            i += 1
            out.append((values[i - 1] - 60) * 64 + values[i])
        i += 1
    return bytes(out)
