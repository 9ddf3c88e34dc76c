"""usd_core: the usd-core process started early is the one the USDZ step uses, and one nobody
takes does not outlive its parent."""
import subprocess
import sys
import time
from pathlib import Path

from processing import usd_core

from .children import alive

ROOT = Path(__file__).resolve().parents[2]


def test_take_returns_the_process_started_early_once_then_new_ones():
    usd_core.start_early()
    early = usd_core._early
    first, second = usd_core.take(), usd_core.take()
    try:
        assert first is early and second is not early
        assert usd_core._early is None
    finally:
        first.cancel()
        second.cancel()


def test_it_starts_with_numpy_shared_before_pydantic_and_one_never_taken_ends_with_its_parent():
    script = (
        "import sys\n"
        "from processing import usd_core\n"
        "assert 'numpy' not in sys.modules\n"
        "usd_core.start_early()\n"
        "assert 'numpy' in sys.modules and 'PIL.Image' in sys.modules\n"
        "assert 'pydantic' not in sys.modules and 'pxr' not in sys.modules\n"
        "print(usd_core._early._pid)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    child = int(done.stdout)
    deadline = time.monotonic() + 60  # it finishes importing usd-core, finds its request pipe closed, leaves
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child)
