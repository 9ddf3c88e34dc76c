"""compute_threads: numpy loaded after `limit_to_one` starts no BLAS threads, unless told otherwise."""
from __future__ import annotations

import os
import subprocess
import sys

from processing.compute_threads import ONE_THREAD

THREADS_AFTER_A_MATRIX_PRODUCT = (
    "import os, sys\n"
    "if sys.argv[1] == 'limit':\n"
    "    from processing import compute_threads\n"
    "    compute_threads.limit_to_one()\n"
    "import numpy\n"
    "numpy.ones((400, 400)) @ numpy.ones((400, 400))\n"
    "print(len(os.listdir('/proc/self/task')))\n"
)


def _threads(mode: str, **env: str) -> int:
    clean = {name: value for name, value in os.environ.items() if name not in ONE_THREAD}
    done = subprocess.run([sys.executable, "-c", THREADS_AFTER_A_MATRIX_PRODUCT, mode],
                          env={**clean, **env}, capture_output=True, text=True, timeout=60, check=True)
    return int(done.stdout)


def test_numpy_after_the_limit_runs_on_one_thread_where_it_would_start_one_per_core():
    assert os.cpu_count() > 1, "CI runs on 2 cores; on one, OpenBLAS starts no threads and this proves nothing"
    assert _threads("no-limit") == os.cpu_count()
    assert _threads("limit") == 1


def test_a_thread_count_the_environment_chose_is_kept():
    assert _threads("limit", OPENBLAS_NUM_THREADS="2") == 2
