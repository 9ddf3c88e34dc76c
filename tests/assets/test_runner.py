"""The in-process runner with a real conversion process: outcomes, limits, restarts, cleanup.

Each test picks a fake conversion (tests/assets/fake_conversions.py) that behaves like a
converter meeting a hostile or broken file: hangs, memory blow-ups, segfaults, bugs.
"""

from __future__ import annotations

import json
import signal
import time

from assets.models import Job
from tests.assets import fake_conversions
from tests.processing.children import alive

GLB_HEADER = b"glTF\x02\x00\x00\x00"  # enough for the upload's format check; the fakes ignore it


def _fake(name: str) -> str:
    return f"{fake_conversions.__name__}:{name}"


def _failed_job(api, content: bytes = GLB_HEADER) -> dict:
    api.create_product("SOFA-1")
    accepted = api.upload("SOFA-1", content)
    assert accepted.status_code == 202, accepted.text
    job = api.wait_for_job(accepted.json()["job"]["id"])
    assert job["status"] == "failed", job
    return job


def test_job_goes_queued_running_succeeded_with_progress(start_api, app_settings):
    api = start_api(convert_function=_fake("slow_succeed"))
    api.create_product("SOFA-1", dimensions={"width": 200, "height": 90, "depth": 85, "unit": "cm"})

    accepted = api.upload("SOFA-1", max_triangles=5000)
    assert accepted.status_code == 202
    assert accepted.json()["job"]["status"] == "queued"
    job_id = accepted.json()["job"]["id"]
    assert len(job_id) == 32 and accepted.headers["location"] == f"/v1/jobs/{job_id}"

    running = api.wait_for_job(job_id, statuses=("running",))
    assert running["sku"] == "SOFA-1" and "error" not in running
    while running["status"] == "running" and running["progress"] < 0.5:
        running = api.get(f"/v1/jobs/{job_id}").json()
    assert running["status"] == "running" and 0.5 <= running["progress"] < 1  # relayed from the child

    done = api.wait_for_job(job_id)
    assert done["status"] == "succeeded" and done["progress"] == 1.0
    product = api.get("/v1/products/SOFA-1").json()
    assert product["dimensions_m"] == {"width": 2.0, "height": 0.9, "depth": 0.85}
    assert set(product["assets"]) == {"glb", "usdz", "report"}

    # The job's settings reached the converter: declared dimensions, the form's budget, the limits.
    report = api.client.get(product["assets"]["report"]).json()
    assert report["settings"]["max_triangles"] == 5000
    assert report["settings"]["dimensions"] == {"width": 200, "height": 90, "depth": 85, "unit": "cm"}
    assert report["settings"]["limits"] == app_settings.limits.model_dump()
    assert list((app_settings.data_dir / "jobs").iterdir()) == []  # scratch removed


def test_conversion_error_fails_the_job_with_its_code(start_api):
    job = _failed_job(start_api(convert_function=_fake("refuse")))
    assert job["error"] == {"code": "CORRUPT_FILE", "message": "The file is damaged: its mesh data ends early."}


def test_hanging_conversion_times_out_and_takes_its_children_along(start_api, app_settings, tmp_path):
    api = start_api(convert_function=_fake("hang"), job_soft_timeout=2.0, job_hard_timeout=2.5)
    pid_file = tmp_path / "grandchild.pid"
    content = GLB_HEADER + json.dumps({"grandchild_pid_file": str(pid_file)}).encode()
    api.create_product("SOFA-1")
    job_id = api.upload("SOFA-1", content).json()["job"]["id"]
    started = time.monotonic()

    api.wait_for_job(job_id, statuses=("running",))
    # The server keeps answering while the conversion hangs.
    for _ in range(5):
        before = time.monotonic()
        assert api.get("/v1/products").status_code == 200
        assert time.monotonic() - before < 0.5

    job = api.wait_for_job(job_id)
    assert job["error"]["code"] == "TIMEOUT"
    assert time.monotonic() - started < 2.5 + 2.0  # hard timeout plus slack
    assert not alive(int(pid_file.read_text()))
    assert list((app_settings.data_dir / "jobs").iterdir()) == []


def test_memory_blow_up_is_out_of_memory(start_api):
    job = _failed_job(start_api(convert_function=_fake("exhaust_memory"), job_memory_bytes=256 * 1024 * 1024))
    assert job["error"]["code"] == "OUT_OF_MEMORY"


def test_segfault_is_converter_crashed(start_api, caplog):
    api = start_api(convert_function=_fake("segfault"))
    job = _failed_job(api)
    assert job["error"]["code"] == "CONVERTER_CRASHED"
    assert f"exit status {-signal.SIGSEGV}" in caplog.text
    assert api.get("/v1/products").status_code == 200


def test_converter_bug_is_crashed_without_paths_or_traceback(start_api, app_settings, caplog):
    job = _failed_job(start_api(convert_function=_fake("raise_bug")))
    assert job["error"]["code"] == "CONVERTER_CRASHED"
    assert "RuntimeError: unexpected state" in caplog.text  # the traceback goes to the log
    text = json.dumps(job)
    assert str(app_settings.data_dir) not in text and "Traceback" not in text and "/" not in job["error"]["message"]


def test_outputs_outside_the_scratch_directory_are_refused(start_api, tmp_path, caplog):
    secret = tmp_path / "secret.txt"
    secret.write_text("canary-8c1f")
    api = start_api(convert_function=_fake("escape_scratch"))
    job = _failed_job(api, GLB_HEADER + json.dumps({"claimed_output": str(secret)}).encode())
    assert job["error"]["code"] == "CONVERTER_CRASHED"
    assert "exit status 0" in caplog.text  # the conversion "succeeded", its result was refused
    assert "assets" not in api.get("/v1/products/SOFA-1").json()


def test_restart_runs_a_job_left_running(start_api):
    first = start_api()
    first.create_product("SOFA-1")
    first.app.state.runner.stop()  # from here on nothing picks jobs up in this process
    job_id = first.upload("SOFA-1").json()["job"]["id"]
    _mark_running(first, job_id, attempts=1)  # as if the process died mid-conversion
    first.close()

    second = start_api(key=first.key)
    assert second.wait_for_job(job_id)["status"] == "succeeded"
    with second.app.state.sessions() as session:
        assert session.get(Job, job_id).attempts == 2


def test_shutdown_kills_the_conversion_and_the_next_start_runs_it_again(start_api, tmp_path):
    first = start_api(convert_function=_fake("hang"), job_soft_timeout=60, job_hard_timeout=60)
    first.create_product("SOFA-1")
    pid_file = tmp_path / "grandchild.pid"
    content = GLB_HEADER + json.dumps({"grandchild_pid_file": str(pid_file)}).encode()
    job_id = first.upload("SOFA-1", content).json()["job"]["id"]
    first.wait_for_job(job_id, statuses=("running",))
    deadline = time.monotonic() + 10
    while not pid_file.exists():  # the conversion is under way
        assert time.monotonic() < deadline, "the fake conversion never started"
        time.sleep(0.02)
    first.close()

    assert not alive(int(pid_file.read_text()))
    with first.app.state.sessions() as session:
        assert session.get(Job, job_id).status == "queued"
    second = start_api(key=first.key)
    assert second.wait_for_job(job_id)["status"] == "succeeded"


def test_a_job_interrupted_too_often_fails(start_api, app_settings):
    first = start_api()
    first.create_product("SOFA-1")
    first.app.state.runner.stop()
    job_id = first.upload("SOFA-1").json()["job"]["id"]
    _mark_running(first, job_id, attempts=app_settings.job_max_attempts)
    first.close()

    job = start_api(key=first.key).wait_for_job(job_id)
    assert job["error"]["code"] == "INTERRUPTED"


def _mark_running(api, job_id: str, attempts: int) -> None:
    with api.app.state.sessions() as session:
        job = session.get(Job, job_id)
        job.status, job.attempts = "running", attempts
        session.commit()

