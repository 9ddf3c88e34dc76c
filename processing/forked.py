"""forked: an object built in a forked copy of this process, which later answers one call.

Why: the geometric error (`surface_error`) needs the original's samples and search tree (2 s on
the 1.9M-triangle stress model) and then distance queries that hold the GIL. `decimate` forks a
child that builds the reference while the simplifier runs here, hands it the simplified triangles
(`ask`), and goes on; the answer (a small dict) is collected when the report is written
(`result`). A fork sees the original as it was, without copying or pickling it. gltfpack, our
yardstick, uses one core; the benchmark reports CPU seconds beside wall seconds for that reason.

The request can be megabytes, more than a pipe holds, and the child reads it only once its
reference is built: a thread writes it, so `ask` returns at once. The child is in the parent's
process group, so a job killed by its runner takes it along; `cancel` ends it when the
conversion fails first. A child that fails or dies without answering is replaced by the same work
done here, which raises whatever it raises — unless `redo` is off, for work that could kill this
process too (a native reader crashing on a hostile file): `result` then raises `ChildDied`. Where
fork does not exist the work is done inline.

History (issue 3), stress_adis_1900k -> 50k: the reference was first built on a thread beside the
simplifier (the two slowed each other: 2.7 s + 3.7 s alone, 6.8 s together), then in a fork after
it (no overlap with the simplifier); forked before it, the simplifier takes 2.2 s instead of
1.9 s alone and the reference is ready when it ends.
"""
from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import traceback
from typing import Any, Callable

# This process's ends of its children's pipes. Every fork closes them in the new child: a child
# holding a copy of another child's request pipe keeps that child from seeing its request end
# (found when usd-core's child waited for the geometric error's child to exit). Forks and closes
# take the lock, so a fork never copies an end that is being closed.
_parent_ends: set[int] = set()
_ends_lock = threading.Lock()


class ChildDied(Exception):
    """The child ended without answering and its work is not to be redone here (`redo` off)."""


class Forked:
    """`build(*args)` in a child process, started now; `ask(method, *args)` then `result()`."""

    def __init__(self, build: Callable[..., Any], *args: Any, redo: bool = True):
        self._build, self._args, self._redo = build, args, redo
        self._pid: int | None = None
        self._request: tuple[str, tuple] | None = None
        self._writer: threading.Thread | None = None
        self._answered = False
        if hasattr(os, "fork"):
            self._fork()

    def _fork(self) -> None:
        request_read, self._request_write = os.pipe()
        self._answer_read, answer_write = os.pipe()
        with _ends_lock:
            pid = os.fork()
            if pid == 0:
                for fd in (self._request_write, self._answer_read, *_parent_ends):
                    os.close(fd)
                _child(request_read, answer_write, self._build, self._args)
            _parent_ends.update((self._request_write, self._answer_read))
        os.close(request_read)
        os.close(answer_write)
        self._pid = pid

    def ask(self, method: str, *args: Any) -> None:
        """Hand the child its one call, `built.method(*args)`; returns without waiting."""
        self._request = (method, args)
        if self._pid is not None:
            payload = pickle.dumps(self._request)
            self._writer = threading.Thread(target=_write_all, args=(self._request_write, payload), daemon=True)
            self._writer.start()

    def result(self) -> Any:
        """The call's value, once the child has answered (or the same work done here)."""
        if self._answered:
            return self._value
        payload = b""
        if self._pid is not None:
            self._writer.join()
            with open(self._answer_read, "rb", closefd=False) as pipe:
                payload = pipe.read()
            _close_parent_end(self._answer_read)
            _, status = os.waitpid(self._pid, 0)
            self._pid = None
            if not payload and not self._redo:
                raise ChildDied(_ending(status))
        method, args = self._request
        self._value = pickle.loads(payload) if payload else getattr(self._build(*self._args), method)(*args)
        self._answered = True
        return self._value

    def cancel(self) -> None:
        if self._pid is None:
            return
        os.kill(self._pid, signal.SIGKILL)
        os.waitpid(self._pid, 0)
        if self._writer is not None:
            self._writer.join()  # the pipe broke with the child: the write ends
        else:
            _close_parent_end(self._request_write)
        _close_parent_end(self._answer_read)
        self._pid = None


def _ending(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"the child was killed by signal {os.WTERMSIG(status)}"
    return "the child raised an exception (its traceback is on stderr)"


def _write_all(fd: int, payload: bytes) -> None:
    try:
        with open(fd, "wb", closefd=False) as pipe:
            pipe.write(payload)
    except BrokenPipeError:  # the child died or was cancelled; `result` falls back
        pass
    finally:
        _close_parent_end(fd)


def _close_parent_end(fd: int) -> None:
    with _ends_lock:
        _parent_ends.discard(fd)
        os.close(fd)


def _child(request_read: int, answer_write: int, build: Callable[..., Any], args: tuple) -> None:
    """Runs in the fork: build, wait for the call, answer, and leave at once (`os._exit`: no atexit
    hooks, no second flush of buffers the parent also holds). An exception leaves the answer
    empty, its traceback on stderr (the conversion's log), and the parent then does the work
    itself or raises `ChildDied`."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        built = build(*args)
        with os.fdopen(request_read, "rb") as pipe:
            request = pipe.read()
        if request:
            method, call_args = pickle.loads(request)
            answer = pickle.dumps(getattr(built, method)(*call_args))
            with os.fdopen(answer_write, "wb") as pipe:
                pipe.write(answer)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(0)
