"""forked: a function whose result only the report needs, run in a forked copy of this process.

Why: after decimation the geometric error (`surface_error`) is the longest thing left, and its
distance queries hold the GIL, so a thread would not overlap them with the exporters. A fork shares
the original's samples and search tree with the child as they are (no copy, no pickling); only the
small result comes back, pickled through a pipe. The job's second core measures while the first
writes the GLBs and the USDZ. gltfpack, our yardstick, uses one core; the benchmark reports CPU
seconds beside wall seconds for that reason.

The child is in the parent's process group, so a job killed by its runner takes it along;
`cancel` ends it when the conversion fails before anyone asks for the result. Where fork does not
exist the call runs inline.

History (issue 3): measured on stress_chair_480k -> 50k, the error took ~1.7 s after the
simplifier (libigl), then ~0.6 s (fcpw), now overlapped with the exporters.
"""
from __future__ import annotations

import os
import pickle
import signal
from typing import Any, Callable


class Forked:
    """`fn(*args)` to run in a child process from `start()`; `result()` waits for it."""

    def __init__(self, fn: Callable[..., Any], *args: Any):
        self._fn, self._args = fn, args
        self._pid: int | None = None
        self._started = False

    def start(self) -> None:
        """Fork now. The pipeline calls this between steps, when no other thread of ours runs (a
        fork copies only the calling thread, and locks another thread held would stay held)."""
        if self._started:
            return
        self._started = True
        if not hasattr(os, "fork"):
            self._inline = self._fn(*self._args)
            return
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _child(write_end, self._fn, self._args)
        os.close(write_end)
        self._pid, self._pipe = pid, read_end

    def result(self) -> Any:
        """The function's value. A child that failed or died without answering (an exception, out
        of memory, killed) is replaced by a call in this process, which raises whatever it raises."""
        self.start()
        if self._pid is None:
            return self._inline
        with os.fdopen(self._pipe, "rb") as pipe:
            payload = pipe.read()
        os.waitpid(self._pid, 0)
        self._pid = None
        if not payload:
            self._inline = self._fn(*self._args)
            return self._inline
        self._inline = pickle.loads(payload)
        return self._inline

    def cancel(self) -> None:
        if self._pid is None:
            return
        os.kill(self._pid, signal.SIGKILL)
        os.waitpid(self._pid, 0)
        os.close(self._pipe)
        self._pid = None


def _child(write_end: int, fn: Callable[..., Any], args: tuple) -> None:
    """Runs in the fork: answer through the pipe and leave at once (`os._exit`: no atexit hooks, no
    second flush of buffers the parent also holds)."""
    try:
        payload = pickle.dumps(fn(*args))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
    finally:  # an exception leaves the pipe empty: the parent then calls fn itself
        os._exit(0)
