"""forked: the report's background figures come from a child process, and nothing is lost or left
behind when that child fails, dies or is no longer wanted."""
import os
import signal

import pytest

from processing.forked import Forked


def pid_and_sum(*values: int) -> tuple[int, int]:
    return os.getpid(), sum(values)


def fail(message: str) -> None:
    raise ValueError(message)


def die() -> int:
    if os.environ.get("FORKED_TEST_PARENT") != str(os.getpid()):
        os.kill(os.getpid(), signal.SIGKILL)  # the child vanishes without answering
    return 7


def test_the_result_is_computed_in_another_process_and_returned():
    pending = Forked(pid_and_sum, 2, 3)
    pending.start()
    child, total = pending.result()
    assert child != os.getpid() and total == 5
    assert pending.result() == (child, 5)  # asked twice, same answer, no second run


def test_result_without_start_starts_it():
    child, total = Forked(pid_and_sum, 1).result()
    assert child != os.getpid() and total == 1


def test_a_failing_function_raises_its_own_error_in_the_parent():
    pending = Forked(fail, "bad samples")
    pending.start()
    with pytest.raises(ValueError, match="bad samples"):
        pending.result()


def test_a_child_killed_before_answering_is_replaced_by_a_call_here(monkeypatch):
    monkeypatch.setenv("FORKED_TEST_PARENT", str(os.getpid()))
    pending = Forked(die)
    pending.start()
    assert pending.result() == 7


def test_cancel_ends_and_reaps_the_child():
    pending = Forked(signal.pause)  # would wait forever
    pending.start()
    child = pending._pid
    pending.cancel()
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)  # already reaped: no zombie left
