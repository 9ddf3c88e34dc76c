"""forked: the report's background figures come from a child process, and nothing is lost or left
behind when that child fails, dies or is no longer wanted."""
import os
import signal
import threading

import numpy as np
import pytest

from processing.forked import ChildDied, Forked

from .children import child_pids


class Summer:
    def __init__(self, *values: int):
        self.base = sum(values)
        self.built_in = os.getpid()

    def add(self, more: np.ndarray) -> tuple[int, int, int]:
        return self.built_in, os.getpid(), self.base + int(more.sum())

    def fail(self, message: str) -> None:
        raise ValueError(message)

    def die(self) -> int:
        if os.environ.get("FORKED_TEST_PARENT") != str(os.getpid()):
            os.kill(os.getpid(), signal.SIGKILL)  # the child vanishes without answering
        return 7


@pytest.fixture
def no_child_left():
    """Asserts after the test that it left no process of its own behind, reaped or not."""
    before = child_pids()
    yield
    assert child_pids() <= before


def test_built_and_answered_in_another_process_even_when_the_request_exceeds_a_pipe(no_child_left):
    pending = Forked(Summer, 2, 3)
    big = np.ones(2_000_000, dtype=np.int64)  # 16 MB: more than a pipe holds
    pending.ask("add", big)
    built_in, answered_in, total = pending.result()
    assert built_in == answered_in != os.getpid()
    assert total == 2_000_005
    assert pending.result() == (built_in, answered_in, total)  # asked twice, same answer


def test_a_failing_call_raises_its_own_error_here(no_child_left):
    pending = Forked(Summer, 1)
    pending.ask("fail", "bad samples")
    with pytest.raises(ValueError, match="bad samples"):
        pending.result()


def test_a_child_killed_before_answering_is_replaced_by_the_work_done_here(monkeypatch, no_child_left):
    monkeypatch.setenv("FORKED_TEST_PARENT", str(os.getpid()))
    pending = Forked(Summer)
    pending.ask("die")
    assert pending.result() == 7


@pytest.mark.parametrize("call, args, ending", [("die", (), "killed by signal 9"),
                                                ("fail", ("bad samples",), "raised an exception")])
def test_with_redo_off_a_child_that_does_not_answer_is_reported_not_redone(monkeypatch, no_child_left, call, args,
                                                                           ending):
    """Work that could crash this process too (a native reader on a hostile file) is not run here."""
    monkeypatch.setenv("FORKED_TEST_PARENT", str(os.getpid()))
    pending = Forked(Summer, redo=False)
    pending.ask(call, *args)
    with pytest.raises(ChildDied, match=ending):
        pending.result()


@pytest.mark.parametrize("asked", [False, True])
def test_cancel_ends_and_reaps_the_child(asked, no_child_left):
    pending = Forked(Summer, 1)
    if asked:
        pending.ask("add", np.ones(2_000_000, dtype=np.int64))
    pending.cancel()


def test_a_later_child_does_not_hold_an_earlier_childs_request_open(no_child_left):
    """The earlier child reads its request to the end: a later fork holding a copy of the write end
    would keep it waiting until that later child exits (here: never, it is waiting too)."""
    earlier = Forked(Summer, 1)
    later = Forked(Summer, 2)  # alive, waiting for its own request
    earlier.ask("add", np.ones(3, dtype=np.int64))
    answered = threading.Thread(target=earlier.result, daemon=True)
    answered.start()
    answered.join(timeout=30)
    later.cancel()
    assert not answered.is_alive(), "the earlier child never saw its request end"
    assert earlier.result()[2] == 4
