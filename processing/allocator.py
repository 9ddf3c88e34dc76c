"""allocator: a conversion process keeps the memory it frees for reuse (glibc's malloc).

numpy takes each large temporary (above glibc's mmap threshold: 128 KiB, rising as it adapts)
from the kernel as fresh pages and gives it back when freed, so the kernel zeroes every page of the
next one again; a conversion makes hundreds (a float64 copy of a 480k-triangle mesh's vertices is
7 MB). With large blocks taken from the heap and the heap never trimmed, a freed block is reused
as it is. Peak memory is that of the largest moment either way; a conversion process ends when its
job does, so what it keeps is never idle for long. The forks it makes (usd-core's, the error
measurement's) inherit the setting. Where libc is not glibc this does nothing.

History (issue 3): perf on `vitrine3d convert` stress_chair_480k -> 50k put 9% of the run's CPU in
the kernel zeroing pages. Set through glibc's MALLOC_* variables (4 interleaved runs each): chair
1.06 -> 0.94 s median, adis (1.9M triangles) 2.75 -> 2.53 s, capsule (650k) within noise, peak
memory -2% to +1.5%. Set as here, by mallopt once Python runs, the chair's gain is smaller and
noisy: 1.05 -> 0.985 s and 1.81 -> 1.65 CPU-s over 8 interleaved pairs, 0.945 -> 0.98 s over 6
others; its system time was lower in every batch (0.29 -> 0.23 s).
"""
from __future__ import annotations

import ctypes

MiB = 1 << 20
# mallopt's parameters (glibc's malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = {
    M_MMAP_THRESHOLD: 32 * MiB,  # glibc's largest: blocks up to this come from the heap, to be reused
    M_TRIM_THRESHOLD: 1024 * MiB,  # freed memory at the heap's top stays (a job's whole budget is 4 GiB)
    M_TOP_PAD: 64 * MiB,  # grow the heap in steps of this, not a page at a time
}


def reuse_freed_memory() -> bool:
    """Tune this process's malloc as above; False where it is not glibc's (nothing changed)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(parameter, value) == 1 for parameter, value in SETTINGS.items())
