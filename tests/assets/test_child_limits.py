"""The conversion process's own limits: files it writes and descriptors it holds are capped
before anything heavy is imported, it reaches no network, and job directories are private
(assets/child.py, assets/runner.py)."""


import json
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from assets.runner import CODE_ROOT
from tests.conftest import GLB_BYTES

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


def test_the_conversion_process_reaches_no_network_not_even_loopback(start_api):
    """The child leaves the network before converting (assets/child.py): a listener on this machine's
    loopback, which the API process itself can reach, never hears from it."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.1)
        address = listener.getsockname()
        api = start_api(convert_function="tests.assets.fake_conversions:phone_home")
        api.create_product("SOFA-1")
        content = GLB_BYTES[:8] + json.dumps({"address": address}).encode()
        job = api.wait_for_job(api.upload("SOFA-1", content).json()["job"]["id"])
        assert job["status"] == "succeeded", job  # NETWORK_REACHED would fail it
        with pytest.raises(TimeoutError):
            listener.accept()
        with socket.create_connection(address, timeout=2):
            pass  # the same address is reachable from outside the child: the test can fail


def test_job_directories_are_private_to_this_service(start_api):
    api = start_api(convert_function="tests.assets.fake_conversions:hang")
    api.create_product("SOFA-1")
    api.wait_for_job(api.upload("SOFA-1").json()["job"]["id"], statuses=("running",))
    jobs = api.app.state.settings.data_dir.resolve() / "jobs"
    scratch = next(jobs.iterdir())
    assert stat.S_IMODE(jobs.stat().st_mode) == 0o700 and stat.S_IMODE(scratch.stat().st_mode) == 0o700


def test_a_conversion_sees_neither_the_catalog_nor_stored_files_nor_other_jobs(start_api):
    """The child covers the data directory but for its own job directory (assets/child.py)."""
    api = start_api(convert_function="tests.assets.fake_conversions:snoop")
    data = api.app.state.settings.data_dir.resolve()
    api.create_product("SOFA-1")
    first = api.wait_for_job(api.upload("SOFA-1", GLB_BYTES[:8] + b'{"paths": []}').json()["job"]["id"])
    assert first["status"] == "succeeded", first
    other_job = data / "jobs" / "0123456789abcdef0123456789abcdef-1"  # as another running job's directory
    other_job.mkdir(mode=0o700)
    (other_job / "input").write_bytes(b"another shop's original")
    secret = data / "canary.txt"
    secret.write_text("secret")
    stored = [path for path in (data / "objects").rglob("*") if path.is_file()]
    paths = [str(data / "vitrine.db"), str(secret), str(other_job / "input"), *map(str, stored)]
    assert all(Path(path).read_bytes() is not None for path in paths)  # all there for this process to read
    job = api.wait_for_job(api.upload("SOFA-1", GLB_BYTES[:8] + json.dumps({"paths": paths}).encode()).json()["job"]["id"])
    assert job["status"] == "succeeded", job  # NOT_ISOLATED would fail it
