"""The conversion process: one job's conversion, inside its scratch directory, under limits.

The runner starts it as `python -m assets.child <job-dir>`, in a new session (its own process
group, so a timeout kills everything it started). It reads job.json, lowers its own resource
limits (address space, CPU time, file size, open files, no core dumps), leaves the network and
covers the service's data directory except its own job directory (namespaces of its own, where
the OS allows) *before* importing anything heavy, converts `input` into `out/`, and writes result.json:

    {"outputs": {"glb": "out/model.glb", "usdz": ..., "report": ...}}   or
    {"error": {"code": ..., "message": ...}}

Progress goes to progress.json (replaced atomically) for the runner to poll. Anything else — an
unexpected exception (its traceback on stderr, which the runner logs), a signal — leaves no
result.json, and the runner derives the failure code from the exit status.

Only the standard library is imported at module level: the limits must be in force before
trimesh, numpy or usd-core map any memory. The child also dies with its runner (Linux
PR_SET_PDEATHSIG): a worker killed with SIGKILL leaves no conversion running on unsupervised,
its job runs again elsewhere once the lease lapses.
"""

from __future__ import annotations

import ctypes
import errno
import importlib
import json
import math
import os
import resource
import signal
import sys
from pathlib import Path

JOB_FILE = "job.json"
INPUT_FILE = "input"
OUTPUT_DIR = "out"
PROGRESS_FILE = "progress.json"
RESULT_FILE = "result.json"
DEFAULT_CONVERT = "processing.pipeline:convert"
# Exit status when a MemoryError left too little memory even to write result.json.
OUT_OF_MEMORY_EXIT = 86
PR_SET_PDEATHSIG = 1
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
# Descriptors a conversion may hold open: readers open a few files at a time; usd-core and the
# thread pools a few dozen.
OPEN_FILES = 256

FILE_TOO_LARGE_MESSAGE = "The conversion would write a file larger than a job may; try a simpler model."
OUT_OF_MEMORY_MESSAGE = (
    "The conversion needed more memory than a job may use; try a simpler model or a lower max_triangles."
)


def main(argv: list[str]) -> int:
    _die_with_parent()
    os.chdir(argv[1])
    job = json.loads(Path(JOB_FILE).read_text())
    _limit_resources(job["memory_bytes"], job["cpu_seconds"], _file_bytes(job))
    print(f"isolation: {_isolate(job.get('private_root'))}", file=sys.stderr)
    from processing import allocator  # standard library only

    allocator.reuse_freed_memory()  # before any fork, which inherits it
    if not job.get("convert"):  # the pipeline's: its usd-core process loads while we import
        from processing import usd_core  # standard library only (see its note)

        usd_core.start_early()

    result = None
    try:
        result = _convert(job)
    except MemoryError:
        pass  # reported below, once the frames holding the memory are gone
    if result is None:
        result = {"error": {"code": "OUT_OF_MEMORY", "message": OUT_OF_MEMORY_MESSAGE}}
    try:
        _write_json(RESULT_FILE, result)
    except MemoryError:
        return OUT_OF_MEMORY_EXIT
    return 0


def _convert(job: dict) -> dict:
    """Run the conversion; the result to write, outputs or a ConversionError's code and message."""
    convert = _import(job.get("convert") or DEFAULT_CONVERT)
    from processing.errors import ConversionError
    from processing.settings import Settings

    settings = Settings.model_validate(job["settings"])
    try:
        conversion = convert(Path(INPUT_FILE), Path(OUTPUT_DIR), settings, _report_progress)
    except ConversionError as exc:
        return {"error": exc.as_dict()}
    except OSError as exc:
        if exc.errno != errno.EFBIG:
            raise
        return {"error": {"code": "INPUT_TOO_LARGE", "message": FILE_TOO_LARGE_MESSAGE}}
    return {"outputs": {kind: str(path) for kind, path in conversion.outputs.items()}}


def _die_with_parent() -> None:
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the runner died before the request took effect
        os._exit(1)


def _limit_resources(memory_bytes: int, cpu_seconds: int, file_bytes: int) -> None:
    _lower(resource.RLIMIT_AS, memory_bytes, memory_bytes)
    # CPU time backs up the runner's wall clock: SIGXCPU at the soft limit, SIGKILL at the hard one.
    _lower(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 5)
    # A crash must not leave a core dump (as large as the process) anywhere.
    _lower(resource.RLIMIT_CORE, 0, 0)
    # No file the conversion writes may outgrow what it could legitimately hold; past it a write
    # fails with EFBIG (an error we report) instead of the default SIGXFSZ kill.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _lower(resource.RLIMIT_FSIZE, file_bytes, file_bytes)
    # Native readers given a hostile file must not be able to exhaust the machine's descriptors.
    _lower(resource.RLIMIT_NOFILE, OPEN_FILES, OPEN_FILES)


def _isolate(private_root: str | None) -> str:
    """Leave the network and, inside a mount namespace of our own, cover the service's data directory.

    A network namespace of our own has no interface up: a hostile file that gets a reader to open a
    socket reaches nothing, not even loopback services. Covering `private_root` (the data directory:
    the catalog, stored objects, other jobs' directories) with an empty tmpfs, with only this job's
    directory put back at its own path, keeps one job from reading another's files although all run
    as the same user. Needs CAP_SYS_ADMIN (root, as in our image) or unprivileged user namespaces;
    elsewhere the conversion runs on, with the returned fact in the job's log (no code path in the
    pipeline fetches a URL in any case)."""
    if not sys.platform.startswith("linux"):
        return "shared (not Linux)"
    libc = ctypes.CDLL(None, use_errno=True)
    namespaces = CLONE_NEWNET | CLONE_NEWNS
    if libc.unshare(namespaces) != 0:
        uid, gid = os.getuid(), os.getgid()
        if libc.unshare(CLONE_NEWUSER | namespaces) != 0:
            return f"shared (unshare: {os.strerror(ctypes.get_errno())})"
        # Map our ids onto themselves, so the job's files keep their owner inside the namespace.
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    if private_root is None:
        return "network isolated"
    return "network isolated, " + _cover(libc, Path(private_root))


def _cover(libc, private_root: Path) -> str:
    here = Path.cwd()
    needed = (Path(__file__).resolve().parents[1], Path(sys.prefix), Path(sys.base_prefix))
    if private_root not in here.parents or any(p == private_root or private_root in p.parents for p in needed):
        return f"{private_root} not covered (it holds code the job needs, or not the job)"
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates to the service
    _mount(libc, "tmpfs", str(private_root), "tmpfs", 0, "mode=0711,size=64k")
    here.mkdir(parents=True)
    _mount(libc, ".", str(here), None, MS_BIND)  # "." still names the job's directory under the cover
    os.chdir(here)
    return f"{private_root} covered"


def _mount(libc, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    source_b, target_b, fstype_b, data_b = (None if v is None else v.encode() for v in (source, target, fstype, data))
    if libc.mount(source_b, target_b, fstype_b, flags, data_b) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {target}: {os.strerror(error)}")


def _file_bytes(job: dict) -> int:
    """The largest file a conversion may write: an unpacked archive entry (under the archive
    limit) or an output (serialised in memory, so under the address-space limit)."""
    limits = job.get("settings", {}).get("limits", {})
    return max(int(limits.get("archive_unpacked_bytes", 0)), int(job["memory_bytes"]))


def _lower(which: int, soft: int, hard: int) -> None:
    _, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(which, (soft, hard))


def _import(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _report_progress(step: str, fraction: float) -> None:
    if math.isfinite(fraction):
        _write_json(PROGRESS_FILE, {"step": step, "fraction": min(max(fraction, 0.0), 1.0)})


def _write_json(name: str, value: dict) -> None:
    tmp = Path(name + ".tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, name)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
