"""The process that loads usd-core and writes the USDZ (`export_usdz.UsdCore`), started as early as
its caller can.

A conversion process spends its first half second importing numpy, pydantic and the pipeline, on
one core; usd-core takes as long again. `start_early`, called by the `vitrine3d` script and by the
service's conversion process before they import anything heavy, forks the usd-core process then,
so the two imports share the machine's two cores instead of usd-core's competing with the
simplifier later. It first imports what both processes need, the scene with numpy and Pillow, so
that is imported once; nothing else but the standard library is imported here (pydantic, the
pipeline and usd-core stay on their own sides). `export_usdz.start` takes the process started
early, or forks one itself (tests, other callers); a process nobody takes ends when its parent
does (its request pipe closes unanswered).

History (issue 3): the fork came first, before numpy; both processes then imported numpy and
Pillow, 0.2 CPU-s more on a 2-core machine that the stress models keep busy: `vitrine3d convert`
stress_chair_480k -> 50k took 3.80 CPU-s and 2.11 s, 3.64 CPU-s and 2.02 s with the scene imported
before the fork (medians of 8, interleaved). The usd-core process is ready no later: it skips
numpy's import.
"""
from __future__ import annotations

from .forked import Forked

_early: Forked | None = None


def start_early() -> None:
    """Fork the usd-core process now; the next `take` returns it."""
    global _early
    if _early is None:
        from . import scene  # noqa: F401 - numpy and Pillow, imported once for both processes

        _early = Forked(_load)


def take() -> Forked:
    """The process `start_early` started, or a new one."""
    global _early
    started, _early = _early or Forked(_load), None
    return started


def _load():
    from .export_usdz import UsdCore

    return UsdCore()
