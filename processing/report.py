"""What a run did, in figures and words: the report.json stored beside every output.

`scene_stats` is the one stats function (gltfpack style): the same figures for the input and the
output, so the before/after table lines up. Every guess a step makes goes into `assumptions`,
every loss into `warnings`; nothing is guessed silently.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from .forked import Forked
from .scene import Scene, video_memory


def scene_stats(scene: Scene) -> dict:
    """Triangles, vertices and parts of a scene, its size in scene units, and the video memory its
    textures take once decoded (RGBA with mipmaps, MiB)."""
    try:
        size = [round(x, 6) for x in scene.size()]
    except ValueError:
        size = None
    return {
        "triangles": scene.triangle_count,
        "vertices": scene.vertex_count,
        "meshes": len(scene.meshes),
        "instances": len(scene.instances),
        "materials": len(scene.materials),
        "textures": len(scene.textures),
        "texture_memory_mib": round(sum(video_memory(t.image.size) for t in scene.textures) / 2**20, 1),
        "size": size,
    }


@dataclass
class StepRecord:
    name: str
    seconds: float = 0.0
    triangles_before: int | None = None
    triangles_after: int | None = None
    details: dict = field(default_factory=dict)
    pending: dict[str, Forked] = field(default_factory=dict)  # details still being computed

    def as_dict(self) -> dict:
        return {"name": self.name, "seconds": self.seconds, "triangles_before": self.triangles_before,
                "triangles_after": self.triangles_after, "details": self.details}


@dataclass
class Report:
    source: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    input: dict = field(default_factory=dict)
    output: dict = field(default_factory=dict)
    dimensions_m: dict | None = None
    steps: list[StepRecord] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    validation: dict = field(default_factory=dict)
    _current: StepRecord | None = field(default=None, repr=False)

    def note(self, **details) -> None:
        """Figures of the step now running (shown under that step in the report)."""
        if self._current is not None:
            self._current.details.update(details)

    def note_later(self, key: str, value: Forked) -> None:
        """A figure of the running step still being computed in a forked process (see `forked`);
        `settle` puts it under the step once it is ready."""
        if self._current is not None:
            self._current.pending[key] = value

    def settle(self) -> None:
        """Wait for every background figure and put it under its step."""
        for record in self.steps:
            while record.pending:
                key, value = record.pending.popitem()
                record.details[key] = value.result()

    def abandon(self) -> None:
        """The run failed: stop the background work nobody will read."""
        for record in self.steps:
            for value in record.pending.values():
                value.cancel()
            record.pending.clear()

    def assume(self, text: str) -> None:
        self.assumptions.append(text)

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    @contextmanager
    def step(self, name: str, scene: Scene | None) -> Iterator[StepRecord]:
        record = StepRecord(name, triangles_before=scene.triangle_count if scene else None)
        started = time.perf_counter()
        self._current = record
        try:
            yield record
        finally:
            record.seconds = round(time.perf_counter() - started, 4)
            self.steps.append(record)
            self._current = None

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "settings": self.settings,
            "input": self.input,
            "output": self.output,
            "dimensions_m": self.dimensions_m,
            "steps": [s.as_dict() for s in self.steps],
            "assumptions": self.assumptions,
            "warnings": self.warnings,
            "validation": self.validation,
        }
