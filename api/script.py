"""The `vitrine3d` script: pyproject's entry point, in front of api/cli.py.

For `convert` it first forks the process that loads usd-core (`processing.usd_core`), importing
nothing before that but what both processes need (numpy, Pillow): api.cli, its settings and the
pipeline take ~0.5 s to import on one core, and usd-core's import runs on the other meanwhile.
Like the service's conversions, it asks numpy's BLAS for one thread first (`compute_threads`) and
keeps the memory it frees for reuse (`allocator`).
After `convert` the process leaves without tearing the interpreter down: freeing every module and array took 0.15-0.2 s of a
2.5 s run on the stress models (issue 3's benchmark times whole processes), and a conversion leaves
nothing to clean up — its children are reaped and its files closed when `convert` returns.
"""
from __future__ import annotations

import os
import sys


def main() -> None:
    converting = sys.argv[1:2] == ["convert"]
    if converting:
        from processing import allocator, compute_threads, usd_core

        compute_threads.limit_to_one()  # before numpy loads, as the service's conversions run
        allocator.reuse_freed_memory()  # before the fork, which inherits it
        usd_core.start_early()
    from api import cli

    code = cli.main()
    if converting:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
