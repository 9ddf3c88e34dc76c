"""The conversion process's own limits: files it writes and descriptors it holds are capped
before anything heavy is imported (assets/child.py)."""
import subprocess
import sys

from assets.runner import CODE_ROOT

PROBE = """
import errno, resource, sys
from assets import child
child._limit_resources(1 << 30, 60, file_bytes=4096)
assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] <= child.OPEN_FILES
assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)
with open(sys.argv[1], "wb", buffering=0) as f:
    f.write(b"x" * 4096)
    try:
        f.write(b"x")
    except OSError as exc:
        print("refused", errno.errorcode[exc.errno])
"""


def test_a_file_past_its_size_limit_is_a_write_error_not_a_kill(tmp_path):
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "out.bin")], cwd=CODE_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "refused EFBIG"
    assert (tmp_path / "out.bin").stat().st_size == 4096


def test_the_file_limit_holds_what_a_job_may_unpack_or_hold_in_memory():
    from assets.child import _file_bytes

    assert _file_bytes({"memory_bytes": 100, "settings": {"limits": {"archive_unpacked_bytes": 5000}}}) == 5000
    assert _file_bytes({"memory_bytes": 9000, "settings": {}}) == 9000
