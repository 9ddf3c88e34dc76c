"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1 in a thread.

It verifies every request with the recipe the README documents (`assets.webhooks.verify`, a
seen-set of delivery ids), and can be told to fail the first N requests of a path (HTTP 500), to
redirect, or to answer late, to exercise retries. Everything it received is kept, in order, with arrival times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from assets.webhooks import DuplicateDelivery, VerificationError, verify


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    arrived: float  # time.monotonic()
    answer: int
    event: dict | None  # the verified event; None when verification failed
    problem: str | None  # why verification failed


class Receiver:
    """Use as a context manager; `url(path)` is where to point a webhook."""

    def __init__(self, secret: Callable[[], str]):
        self.secret = secret
        self.fail_first: dict[str, int] = {}  # path → how many requests get a 500 before it accepts
        self.redirect: set[str] = set()  # paths answered with a 302
        self.delay: dict[str, float] = {}  # path → seconds to wait before answering
        self.received: list[Received] = []
        self.seen: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{path}"

    def events(self, path: str | None = None) -> list[dict]:
        """The verified events accepted (2xx) so far, optionally only those sent to `path`."""
        with self._lock:
            accepted = [r for r in self.received if r.answer == 200 and r.event is not None]
            return [r.event for r in accepted if path is None or r.path == path]

    def requests(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver: {what} not seen within {timeout}s; got {self.received}")
            time.sleep(0.02)

    def _answer(self, path: str, signature: str, body: bytes) -> tuple[int, dict | None, str | None]:
        """The documented receiver: verify, then handle; a failed handling lets the retry in."""
        try:
            event = verify(self.secret(), body, signature, self.seen)
        except DuplicateDelivery:
            return 200, None, "duplicate"
        except VerificationError as exc:
            return 400, None, str(exc)
        if path in self.redirect:
            self.seen.discard(event["id"])
            return 302, event, None
        if self.fail_first.get(path, 0) > 0:
            self.fail_first[path] -= 1
            self.seen.discard(event["id"])
            return 500, event, None
        return 200, event, None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(receiver.delay.get(self.path, 0))
                headers = dict(self.headers.items())
                with receiver._lock:
                    signature = self.headers.get("Vitrine-Signature", "")
                    answer, event, problem = receiver._answer(self.path, signature, body)
                    receiver.received.append(
                        Received(self.path, headers, body, time.monotonic(), answer, event, problem)
                    )
                self.send_response(answer)
                if answer == 302:
                    self.send_header("Location", receiver.url("/redirected"))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass  # quiet: the tests assert on `received`

        return Handler
