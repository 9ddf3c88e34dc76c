"""The in-process job runner: background threads that run each conversion in a child process.

A conversion parses untrusted files with native code, so it never runs in the server process.
Each job gets a scratch directory (data_dir/jobs/<id>) holding a copy of the original and
job.json; `assets.child` converts it there under an address-space and CPU limit while this
runner watches the wall clock (SIGTERM to the child's process group at the soft timeout, SIGKILL
at the hard one), relays progress into the job row, and turns the way the child ended into a
job outcome:

    result.json with outputs        → publish (assets/publish.py) → succeeded
    result.json with an error       → failed with the ConversionError's code
    stopped by us / SIGXCPU         → TIMEOUT
    MemoryError / killed by SIGKILL → OUT_OF_MEMORY (the kernel's OOM killer also uses SIGKILL)
    anything else                   → CONVERTER_CRASHED

Job state lives in the DB, so a restart loses nothing: jobs a dead process left `running` are
queued again when the runner starts. Each attempt holds a lease on its job row, renewed while it
works (assets/leases.py); an attempt that loses it stops and publishes nothing. Storage and other
infrastructure failures retry after a delay, up to `max_attempts`; a bad file or a crash does not.
The same `run_claimed` serves the RQ workers (assets/queue_rq.py), which claim the job they are
handed instead of polling. Stored error messages are fixed texts (or the converter's
own user-facing message); paths and tracebacks go to the log only. The scratch directory is
removed after every job.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from processing import compute_threads

from . import child, leases
from .leases import ClaimedJob
from .publish import OPTIONAL_KINDS, PUBLISHED_KINDS, publish
from .storage import Storage

log = logging.getLogger(__name__)

# The child imports this same code tree, whether or not the project is installed.
CODE_ROOT = Path(__file__).resolve().parent.parent
# Environment the conversion may see: no secrets (database or storage credentials) pass through.
CHILD_ENV_PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "TZ")
CHILD_LOG = "child.log"
ERROR_CODE = r"[A-Z][A-Z0-9_]{0,63}"
LOG_TAIL_CHARS = 4000

MESSAGES = {
    "TIMEOUT": (
        "The conversion did not finish within the time a job may take; try a simpler model or a lower max_triangles."
    ),
    "OUT_OF_MEMORY": child.OUT_OF_MEMORY_MESSAGE,
    "CONVERTER_CRASHED": (
        "The converter stopped unexpectedly on this file; the error was logged. Try exporting the model again."
    ),
    "PUBLISH_FAILED": "The converted files could not be stored; upload the file again later.",
    "STORAGE_UNAVAILABLE": "The uploaded file could not be read from storage; upload it again later.",
    "INTERNAL": "The job failed because of an internal error; it was logged.",
}


@dataclass(frozen=True)
class RunnerConfig:
    data_dir: Path
    soft_timeout: float
    hard_timeout: float
    memory_bytes: int
    concurrency: int = 1
    max_attempts: int = 3
    convert_function: str | None = None  # test seam, see api/settings.py
    lease_seconds: float = 60.0
    retry_delay: float = 5.0  # before the 2nd attempt; doubled for each further one
    poll_seconds: float = 0.05
    idle_seconds: float = 1.0


@dataclass(frozen=True)
class Outcome:
    """How one run of the child ended: outputs to publish, or a failure code."""

    outputs: dict[str, Path] | None = None
    code: str | None = None
    message: str | None = None
    interrupted: bool = False  # the runner is stopping; the job goes back to the queue


class Runner:
    def __init__(self, sessions: sessionmaker[Session], storage: Storage, config: RunnerConfig):
        self.owner = leases.owner_name()
        self.sessions = sessions
        self.storage = storage
        self.config = config
        self.scratch_root = Path(config.data_dir).resolve() / "jobs"
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Re-queue jobs a previous process left running, then start the worker threads."""
        shutil.rmtree(self.scratch_root, ignore_errors=True)  # left by a process that died
        self.scratch_root.mkdir(parents=True, mode=0o700)
        with self.sessions() as session:
            requeued, failed = leases.recover_interrupted(session, self.config.max_attempts)
        if requeued or failed:
            log.info("recovered interrupted jobs: %d queued again, %d failed", requeued, failed)
        self._stopping.clear()
        for n in range(self.config.concurrency):
            thread = threading.Thread(target=self._work, name=f"vitrine-runner-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """A job was queued: look now instead of at the next idle poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers; running conversions are killed and their jobs queued again."""
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _work(self) -> None:
        owner = f"{self.owner}:{threading.current_thread().name}"
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                with self.sessions() as session:
                    job = leases.claim_next_job(session, owner, self.config.lease_seconds)
            except Exception:
                log.exception("could not claim a job")
                job = None
            if job is None:
                self._wake.wait(self.config.idle_seconds)
                continue
            self.run_claimed(job)

    def claim(self, job_id: str) -> ClaimedJob | None:
        """Claim one job by id (what a queue delivered); None if it is not queued and due."""
        with self.sessions() as session:
            return leases.claim_job(session, job_id, self.owner, self.config.lease_seconds)

    def run_claimed(self, job: ClaimedJob) -> None:
        """Run one claimed attempt to its end: published, failed, or queued again to retry."""
        try:
            self._run(job)
        except OSError:
            log.exception("job %s: storage failed", job.id)
            self._retry_or_fail(job, "STORAGE_UNAVAILABLE")
        except Exception:
            log.exception("job %s: internal error", job.id)
            self._retry_or_fail(job, "INTERNAL")

    def _run(self, job: ClaimedJob) -> None:
        # Per attempt: a stale attempt of the same job on this machine keeps its own folder.
        scratch = self.scratch_root / f"{job.id}-{job.attempt}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True, mode=0o700)  # the original and outputs are readable by this service's user only
        with _LeaseKeeper(self.sessions, job, self.config.lease_seconds) as lease:
            try:
                log.info("job %s: attempt %d for %s", job.id, job.attempt, job.sku)
                self._prepare(job, scratch)
                outcome = self._supervise(job, scratch, lease)
                if outcome.outputs is not None:
                    self._publish(job, outcome.outputs)
                    return
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            # Recorded once the scratch is gone: a job seen as finished has left nothing behind.
            with self.sessions() as session:
                if outcome.interrupted:
                    leases.requeue(session, job)
                else:
                    log.info("job %s: failed with %s", job.id, outcome.code)
                    leases.finish_failed(session, job, outcome.code, outcome.message)

    def _prepare(self, job: ClaimedJob, scratch: Path) -> None:
        """Copy the original into the scratch directory and write the child's instructions."""
        with self.storage.open(job.upload_key) as src, open(scratch / child.INPUT_FILE, "wb") as dst:
            shutil.copyfileobj(src, dst, 1024 * 1024)
        instructions = {
            "settings": job.settings,
            "convert": self.config.convert_function,
            "memory_bytes": self.config.memory_bytes,
            "cpu_seconds": math.ceil(self.config.hard_timeout),
            "private_root": str(self.scratch_root.parent),  # covered in the child: see assets/child.py
        }
        (scratch / child.JOB_FILE).write_text(json.dumps(instructions))

    def _supervise(self, job: ClaimedJob, scratch: Path, lease: _LeaseKeeper) -> Outcome:
        """Run the child to its end (or its timeout) and say how it ended."""
        with open(scratch / CHILD_LOG, "wb") as child_log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "assets.child", str(scratch)],
                cwd=scratch,
                env=_child_env(scratch),
                stdin=subprocess.DEVNULL,
                stdout=child_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started = time.monotonic()
        timed_out = False
        progress = 0.0
        try:
            while True:
                try:
                    proc.wait(self.config.poll_seconds)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if self._stopping.is_set():
                    return Outcome(interrupted=True)
                if lease.lost.is_set():
                    log.warning("job %s: attempt %d lost its lease; stopping it", job.id, job.attempt)
                    return Outcome(interrupted=True)  # the requeue is fenced: a no-op
                elapsed = time.monotonic() - started
                if elapsed >= self.config.hard_timeout:
                    _signal_group(proc, signal.SIGKILL)
                elif elapsed >= self.config.soft_timeout and not timed_out:
                    _signal_group(proc, signal.SIGTERM)
                timed_out = timed_out or elapsed >= self.config.soft_timeout
                progress = self._relay_progress(job, scratch, progress)
        finally:
            # Whatever happened, nothing the child started outlives it.
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        return self._outcome(job, scratch, proc.returncode, timed_out)

    def _relay_progress(self, job: ClaimedJob, scratch: Path, last: float) -> float:
        try:
            fraction = float(json.loads((scratch / child.PROGRESS_FILE).read_text())["fraction"])
        except (OSError, ValueError, KeyError, TypeError):
            return last  # not written yet (or being replaced)
        if fraction != last:
            with self.sessions() as session:
                leases.set_progress(session, job, fraction)
        return fraction

    def _outcome(self, job: ClaimedJob, scratch: Path, returncode: int, timed_out: bool) -> Outcome:
        result = _read_result(scratch) if returncode == 0 else None
        if result is not None and (error := _checked_error(result.get("error"))):
            return Outcome(code=error["code"], message=error["message"])
        if result is not None and (outputs := _checked_outputs(scratch, result.get("outputs"))):
            return Outcome(outputs=outputs)
        if timed_out or returncode == -signal.SIGXCPU:
            code = "TIMEOUT"
        elif returncode in (-signal.SIGKILL, child.OUT_OF_MEMORY_EXIT):
            code = "OUT_OF_MEMORY"
        else:
            code = "CONVERTER_CRASHED"
        log.warning(
            "job %s: %s (exit status %s); conversion log tail:\n%s",
            job.id,
            code,
            returncode,
            _tail(scratch / CHILD_LOG),
        )
        return Outcome(code=code, message=MESSAGES[code])

    def _publish(self, job: ClaimedJob, outputs: dict[str, Path]) -> None:
        try:
            publish(self.sessions, self.storage, job, outputs)
        except OSError:
            log.exception("job %s: publishing failed", job.id)
            self._retry_or_fail(job, "PUBLISH_FAILED")

    def _retry_or_fail(self, job: ClaimedJob, code: str) -> None:
        """An infrastructure failure (not the file's fault): run again later while attempts remain."""
        try:
            with self.sessions() as session:
                if job.attempt < self.config.max_attempts:
                    delay = self.config.retry_delay * 2 ** (job.attempt - 1)
                    message = f"Attempt {job.attempt} failed ({code}); the job runs again in {delay:g} s."
                    leases.requeue(session, job, delay, code, message)
                    log.info("job %s: %s", job.id, message)
                else:
                    leases.finish_failed(session, job, code, MESSAGES[code])
        except Exception:
            log.exception("job %s: could not record the failure", job.id)


class _LeaseKeeper:
    """Renews a claimed job's lease in the background (every third of its length) while in a `with`.

    `lost` is set when a renewal finds the lease gone: the attempt must stop, whatever it does.
    A renewal that errors (database unreachable) is retried at the next tick; if the database
    stays away the lease lapses, which is the point of having one.
    """

    def __init__(self, sessions: sessionmaker[Session], job: ClaimedJob, lease_seconds: float):
        self.sessions, self.job, self.lease_seconds = sessions, job, lease_seconds
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{job.id}", daemon=True)

    def __enter__(self) -> _LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def _renew(self) -> None:
        while not self._done.wait(self.lease_seconds / 3):
            try:
                with self.sessions() as session:
                    if not leases.renew_lease(session, self.job, self.lease_seconds):
                        self.lost.set()
                        return
            except Exception:
                log.exception("job %s: could not renew its lease", self.job.id)


def _child_env(scratch: Path) -> dict[str, str]:
    env = {name: os.environ[name] for name in CHILD_ENV_PASSTHROUGH if name in os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CODE_ROOT), os.environ.get("PYTHONPATH")]))
    # Caches and temporary files stay inside the scratch directory.
    env["HOME"] = env["TMPDIR"] = str(scratch)
    env.update(compute_threads.ONE_THREAD)  # the machine is shared; thread pools reserve address space too
    return env


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass  # already gone


def _read_result(scratch: Path) -> dict | None:
    try:
        result = json.loads((scratch / child.RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) else None


def _checked_error(error: object) -> dict | None:
    """A ConversionError as the child reported it, if it has the shape of one."""
    if (
        isinstance(error, dict)
        and isinstance(error.get("message"), str)
        and re.fullmatch(ERROR_CODE, str(error.get("code")))
    ):
        return error
    return None


def _checked_outputs(scratch: Path, outputs: object) -> dict[str, Path] | None:
    """The child's output paths, if every published kind is a regular file inside out/.

    The child handles untrusted input, so its result is not trusted to name only its own files.
    """
    if not isinstance(outputs, dict):
        return None
    out_dir = (scratch / child.OUTPUT_DIR).resolve()
    checked = {}
    for kind in PUBLISHED_KINDS:
        if kind in OPTIONAL_KINDS and kind not in outputs:
            continue
        if not isinstance(outputs.get(kind), str):
            return None
        path = scratch / outputs[kind]
        if path.is_symlink() or not path.is_file() or not path.resolve().is_relative_to(out_dir):
            return None
        checked[kind] = path
    return checked


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - LOG_TAIL_CHARS))
            return f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
