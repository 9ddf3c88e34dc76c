"""The processes this test process has started and not yet reaped (zombies included), read from
/proc: other tests' servers live beside them, so a test compares the set before and after."""
import os
from pathlib import Path


def child_pids() -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == os.getpid():
            children.add(int(stat.parent.name))
    return children
