"""Run the pipeline up to a given step on an upload built in code."""
from __future__ import annotations

from pathlib import Path

from processing.pipeline import STEPS, Conversion
from processing.settings import Settings


def run_until(tmp_path: Path, data: bytes, last: str, settings: Settings = Settings(), name: str = "upload.bin") -> Conversion:
    source = tmp_path / name
    source.write_bytes(data)
    conv = Conversion(source=source, workdir=tmp_path / "work")
    conv.workdir.mkdir(exist_ok=True)
    for step_name, step in STEPS:
        step(conv, settings)
        if step_name == last:
            return conv
    raise ValueError(f"no step named {last}")
