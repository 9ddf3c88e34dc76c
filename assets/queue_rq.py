"""The RQ runner: conversions on any number of `vitrine3d worker` processes, through Redis.

Two halves, both built on assets/leases.py (the job row is the truth; Redis only carries ids):

- `Dispatcher`, in every API process (in place of the in-process Runner). A reconciler thread
  that, every few seconds and whenever an upload wakes it: fails or re-queues jobs whose lease
  lapsed (their worker died), hands due jobs to RQ, and re-hands jobs that Redis lost (an RQ job
  that no longer exists, e.g. Redis restarted empty). If Redis is down the upload still succeeds
  and its job waits in the table; the next pass enqueues it. Several API replicas may run it at
  once: every step is a conditional UPDATE or an idempotent enqueue (the RQ job id is the job id
  and attempt number, enqueued with `unique=True`).
- `work()`, the worker: an RQ `SimpleWorker` (no fork per job — the conversion already runs in
  its own child process, which dies with the worker) whose task `run_job(job_id)` claims the job
  row (a duplicate delivery finds it taken and returns) and runs it with the shared Runner code:
  lease renewal, limits, fenced publish, retries with backoff.

A worker killed with SIGKILL leaves its job `running` with a lease nobody renews; the next
reconciler pass after it lapses re-queues it, and another worker runs it (a new attempt).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from . import leases
from .models import utcnow
from .runner import Runner

log = logging.getLogger(__name__)

QUEUE_NAME = "vitrine3d"
TASK = "assets.queue_rq.run_job"
BATCH = 500
# A job handed to RQ this many passes ago and still not claimed is looked for in Redis.
LOST_AFTER_PASSES = 10

# The worker process's Runner, set by `work()` before RQ runs any task (RQ tasks are plain
# functions found by name, so this is how they reach the worker's database and storage).
_runner: Runner | None = None


def _rq():
    try:
        import redis
        import rq
        from rq.exceptions import DuplicateJobError
    except ImportError as exc:  # pragma: no cover - dependencies; for trimmed installs
        raise RuntimeError("VITRINE_QUEUE_URL=redis://… needs rq and redis: pip install rq redis") from exc
    return redis, rq, DuplicateJobError


def rq_job_id(job_id: str, attempts: int) -> str:
    """One RQ job per (job, attempt): a re-run after a retry or a dead worker is a new RQ job."""
    return f"{job_id}-{attempts}"


class Dispatcher:
    """The API side: keeps RQ in step with the jobs table (see the module docstring)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        queue_url: str,
        *,
        job_timeout: float,
        max_attempts: int,
        interval: float = 2.0,
    ):
        redis, rq, _ = _rq()
        self.sessions = sessions
        self.connection = redis.Redis.from_url(queue_url, socket_connect_timeout=2, socket_timeout=5)
        self.queue = rq.Queue(QUEUE_NAME, connection=self.connection)
        self.job_timeout = int(job_timeout)
        self.max_attempts = max_attempts
        self.interval = interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="vitrine-dispatcher", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A job was queued: dispatch now instead of at the next pass."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.connection.close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self.reconcile()
            except Exception as exc:  # Redis or the database away: try again next pass
                log.warning("reconciling jobs failed (%s: %s); retrying", type(exc).__name__, exc)
            self._wake.wait(self.interval)

    def reconcile(self) -> None:
        """One pass: release lapsed leases, enqueue due jobs, re-enqueue jobs Redis lost."""
        with self.sessions() as session:
            requeued, failed = leases.release_expired(session, self.max_attempts)
            if requeued or failed:
                log.warning("jobs whose worker stopped renewing its lease: %d re-queued, %d failed", requeued, failed)
            self._enqueue(session, leases.jobs_to_enqueue(session, BATCH))
            lost_after = timedelta(seconds=self.interval * LOST_AFTER_PASSES)
            waiting = leases.jobs_enqueued_before(session, utcnow() - lost_after, BATCH)
            lost = [(job_id, n) for job_id, n in waiting if not self._in_redis(rq_job_id(job_id, n))]
            if lost:
                log.warning("%d queued jobs were missing from Redis; enqueuing them again", len(lost))
                self._enqueue(session, lost)

    def _enqueue(self, session: Session, jobs: list[tuple[str, int]]) -> None:
        _, _, DuplicateJobError = _rq()
        done = []
        for job_id, attempts in jobs:
            try:
                self.queue.enqueue_call(
                    TASK,
                    args=(job_id,),
                    job_id=rq_job_id(job_id, attempts),
                    unique=True,
                    timeout=self.job_timeout,
                    result_ttl=0,  # the job row holds the outcome
                    failure_ttl=24 * 3600,
                )
            except DuplicateJobError:
                pass  # another API replica (or an earlier pass) enqueued it: fine
            done.append(job_id)
        leases.mark_enqueued(session, done)

    def _in_redis(self, rq_id: str) -> bool:
        _, rq, _ = _rq()
        return rq.job.Job.exists(rq_id, connection=self.connection)


def run_job(job_id: str) -> None:
    """The RQ task: claim the job row and run it; a job already taken, done or deleted is skipped."""
    if _runner is None:
        raise RuntimeError("run_job runs inside `vitrine3d worker` only")
    job = _runner.claim(job_id)
    if job is None:
        log.info("job %s: not claimable (taken, finished, deleted or not due); skipped", job_id)
        return
    _runner.run_claimed(job)


def work(runner: Runner, queue_url: str, *, burst: bool = False, name: str | None = None) -> None:
    """Serve RQ tasks with `runner` until stopped (SIGTERM/SIGINT: finish the current job first)."""
    global _runner
    redis, rq, _ = _rq()
    _runner = runner
    runner.scratch_root.mkdir(parents=True, exist_ok=True)
    connection = redis.Redis.from_url(queue_url)
    queue = rq.Queue(QUEUE_NAME, connection=connection)
    worker = rq.SimpleWorker([queue], connection=connection, name=name)
    worker.work(burst=burst, with_scheduler=False)
