"""Stand-ins for processing.pipeline.convert, called by the real conversion process in tests.

Selected with `AppSettings.convert_function = "tests.assets.fake_conversions:<name>"`; the
conversion process imports it like the project's own packages. Each has convert's signature. The uploaded
bytes after the 8-byte GLB header may carry JSON instructions for the fake (`_instructions`),
which is how a test reaches into the child process.
"""

from __future__ import annotations

import ctypes
import json
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

from processing.errors import ConversionError


def succeed(source: Path, workdir: Path, settings, on_progress) -> SimpleNamespace:
    """Outputs derived from the input bytes, so each upload publishes different content."""
    data = source.read_bytes()
    workdir.mkdir(parents=True, exist_ok=True)
    outputs = {"glb": workdir / "model.glb", "usdz": workdir / "model.usdz", "report": workdir / "report.json"}
    outputs["glb"].write_bytes(b"GLB:" + data)
    outputs["usdz"].write_bytes(b"USDZ:" + data)
    report = {
        "dimensions_m": {"width": 2.0, "height": 0.9, "depth": 0.85},
        "settings": settings.model_dump(mode="json"),
    }
    outputs["report"].write_text(json.dumps(report))
    on_progress("done", 1.0)
    return SimpleNamespace(outputs=outputs)


def succeed_with_web(source: Path, workdir: Path, settings, on_progress) -> SimpleNamespace:
    """`succeed`, with a `web` flavour too."""
    done = succeed(source, workdir, settings, on_progress)
    done.outputs["glb_web"] = workdir / "model.web.glb"
    done.outputs["glb_web"].write_bytes(b"WEB GLB:" + source.read_bytes())
    return done


def slow_succeed(source: Path, workdir: Path, settings, on_progress) -> SimpleNamespace:
    for step, fraction in (("load", 0.25), ("decimate", 0.5), ("export", 0.75)):
        on_progress(step, fraction)
        time.sleep(0.3)
    return succeed(source, workdir, settings, on_progress)


def refuse(source: Path, workdir: Path, settings, on_progress):
    raise ConversionError("CORRUPT_FILE", "The file is damaged: its mesh data ends early.")


def hang(source: Path, workdir: Path, settings, on_progress):
    """Ignore SIGTERM and never finish; start a grandchild first if the input asks for it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pid_file = _instructions(source).get("grandchild_pid_file")
    if pid_file:
        grandchild = subprocess.Popen(["sleep", "600"])
        Path(pid_file).write_text(str(grandchild.pid))
    while True:
        time.sleep(1)


def exhaust_memory(source: Path, workdir: Path, settings, on_progress):
    blocks = []
    while True:
        blocks.append(bytearray(64 * 1024 * 1024))


def segfault(source: Path, workdir: Path, settings, on_progress):
    ctypes.string_at(0)


def raise_bug(source: Path, workdir: Path, settings, on_progress):
    raise RuntimeError(f"unexpected state while reading {source.resolve()}")


def escape_scratch(source: Path, workdir: Path, settings, on_progress) -> SimpleNamespace:
    """Claim a file outside the job's directory as an output (a compromised converter)."""
    result = succeed(source, workdir, settings, on_progress)
    result.outputs["glb"] = Path(_instructions(source)["claimed_output"])
    return result


def phone_home(source: Path, workdir: Path, settings, on_progress) -> SimpleNamespace:
    """Try to reach the address the input names (a hostile file making a reader open a socket)."""
    host, port = _instructions(source)["address"]
    with socket.socket() as sock:
        sock.settimeout(2)
        if sock.connect_ex((host, port)) == 0:
            raise ConversionError("NETWORK_REACHED", "The conversion process reached the network.")
    return succeed(source, workdir, settings, on_progress)


def snoop(source: Path, workdir: Path, settings, on_progress) -> SimpleNamespace:
    """Try to read what a hostile converter would want: the catalog, stored objects, other jobs' files."""
    for path in _instructions(source)["paths"]:
        try:
            Path(path).read_bytes()
        except OSError:
            continue
        raise ConversionError("NOT_ISOLATED", "The conversion read a file outside its job.")
    return succeed(source, workdir, settings, on_progress)


def _instructions(source: Path) -> dict:
    try:
        return json.loads(source.read_bytes()[8:])
    except ValueError:
        return {}
