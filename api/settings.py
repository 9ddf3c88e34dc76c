"""How the service is configured: one `AppSettings`, from `VITRINE_*` environment variables.

Read once when the app (or a CLI command) starts and passed down from there; nothing else reads
the environment. The defaults are the one-machine setup of the README: SQLite and object files in
./data, jobs in-process. Nested values use `__`, e.g. `VITRINE_LIMITS__ARCHIVE_ENTRIES=100`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

from processing.settings import Limits

MiB = 1024 * 1024
GiB = 1024 * MiB


class AppSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VITRINE_", env_nested_delimiter="__", frozen=True)

    data_dir: Path = Field(Path("./data"), description="Scratch space: upload spooling and job directories.")
    database_url: str = "sqlite:///./data/vitrine.db"
    storage_url: str = "file://./data/objects"
    public_base_url: str | None = Field(
        None, description="Base of the absolute URLs in responses; None = the request's own base URL."
    )
    max_upload_bytes: PositiveInt = 200 * MiB
    job_soft_timeout: PositiveFloat = Field(
        300, description="Seconds before the conversion is asked to stop (SIGTERM)."
    )
    job_hard_timeout: PositiveFloat = Field(330, description="Seconds before the conversion is killed (SIGKILL).")
    job_memory_bytes: PositiveInt = Field(4 * GiB, description="Address-space limit of the conversion process.")
    job_concurrency: PositiveInt = 1
    job_max_attempts: PositiveInt = Field(3, description="Runs of a job interrupted by a restart or a storage failure.")
    limits: Limits = Limits()
    convert_function: str | None = Field(
        None,
        description=(
            "Test-only seam: `module:function` the conversion process calls instead of "
            "processing.pipeline.convert (same signature). Leave unset in production."
        ),
    )
