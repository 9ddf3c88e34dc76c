"""One compute thread per conversion process for numpy's BLAS and OpenMP libraries.

A conversion does its parallel work in processes of its own (usd-core's, the error measurement's:
`forked`). numpy's OpenBLAS otherwise starts a thread per core when it loads, and those threads
spin after every matrix product (`scene.transform_points`), on the cores those processes need.
The service's runner has always started its conversions with one thread (every thread pool also
reserves address space, which counts against a job's memory limit); `vitrine3d convert` now does too.

History (issue 3): `vitrine3d convert` stress_chair_480k -> 50k took 2.12-2.34 s and 3.7-3.9 CPU-s with
OpenBLAS's threads, 1.83-2.08 s and 3.2-3.5 CPU-s with one (4 interleaved runs each).
"""
from __future__ import annotations

import os

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def limit_to_one() -> None:
    """Ask for one thread, unless the environment already chose; only effective before numpy loads."""
    for name, value in ONE_THREAD.items():
        os.environ.setdefault(name, value)
