"""The process that loads usd-core and writes the USDZ (`export_usdz.UsdCore`), started as early as
its caller can.

A conversion process spends its first half second importing numpy, pydantic and the pipeline, on
one core; usd-core takes as long again. `start_early`, called by the `vitrine3d` script and by the
service's conversion process before they import anything heavy, forks the usd-core process then,
so the two imports share the machine's two cores instead of usd-core's competing with the
simplifier later. Only the standard library is imported here. `export_usdz.start` takes the
process started early, or forks one itself (tests, other callers); a process nobody takes ends
when its parent does (its request pipe closes unanswered).
"""
from __future__ import annotations

from .forked import Forked

_early: Forked | None = None


def start_early() -> None:
    """Fork the usd-core process now; the next `take` returns it."""
    global _early
    if _early is None:
        _early = Forked(_load)


def take() -> Forked:
    """The process `start_early` started, or a new one."""
    global _early
    started, _early = _early or Forked(_load), None
    return started


def _load():
    from .export_usdz import UsdCore

    return UsdCore()
