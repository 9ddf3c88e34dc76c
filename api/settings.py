"""How the service is configured: one `AppSettings`, from `VITRINE_*` environment variables.

Read once when the app (or a CLI command) starts and passed down from there; nothing else reads
the environment. The defaults are the one-machine setup of the README: SQLite and object files in
./data, jobs in-process. Scaling out changes settings only: a PostgreSQL `database_url`, an
`s3://` `storage_url` (with `s3_endpoint_url` for a store other than AWS), and a `redis://`
`queue_url` with `vitrine3d worker` processes. Nested values use `__`, e.g.
`VITRINE_LIMITS__ARCHIVE_ENTRIES=100`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

from assets.storage import Storage, storage_from_url
from processing.settings import Limits

if TYPE_CHECKING:  # both pull in SQLAlchemy: `vitrine3d convert` reads these settings and needs neither
    from assets.runner import RunnerConfig
    from assets.webhook_delivery import DeliveryConfig

MiB = 1024 * 1024
GiB = 1024 * MiB


class AppSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VITRINE_", env_nested_delimiter="__", frozen=True)

    data_dir: Path = Field(Path("./data"), description="Scratch space: upload spooling and job directories.")
    database_url: str = Field(
        "sqlite:///./data/vitrine.db", description="SQLAlchemy URL: sqlite:///… or postgresql+psycopg://…"
    )
    storage_url: str = Field("file://./data/objects", description="file://PATH or s3://BUCKET/PREFIX")
    s3_endpoint_url: str | None = Field(
        None, description="An S3-compatible endpoint (MinIO, R2, Ceph); None = AWS. Keys: the AWS credential chain."
    )
    public_base_url: str | None = Field(
        None,
        description=(
            "Where published objects are read from: the service's public URL with local storage, a CDN or "
            "bucket URL with S3. None = the request's own base URL (local) or presigned URLs (S3)."
        ),
    )
    queue_url: str = Field("", description="Empty: jobs run in the API process. redis://…: RQ, run `vitrine3d worker`.")
    max_upload_bytes: PositiveInt = 200 * MiB
    upload_idle_seconds: PositiveFloat = Field(30, description="An upload that sends nothing this long gets 408.")
    upload_max_seconds: PositiveFloat = Field(3600, description="An upload still arriving after this long gets 408.")
    max_direct_upload_bytes: PositiveInt = Field(
        5 * GiB, description="Largest original a client may PUT straight to the bucket (S3 storage only)."
    )
    direct_upload_seconds: PositiveInt = Field(
        3600, description="How long a presigned upload URL stays valid; keep it below gc_grace_seconds."
    )
    job_soft_timeout: PositiveFloat = Field(
        300, description="Seconds before the conversion is asked to stop (SIGTERM)."
    )
    job_hard_timeout: PositiveFloat = Field(330, description="Seconds before the conversion is killed (SIGKILL).")
    job_memory_bytes: PositiveInt = Field(4 * GiB, description="Address-space limit of the conversion process.")
    job_concurrency: PositiveInt = 1
    job_max_attempts: PositiveInt = Field(3, description="Runs of a job interrupted by a restart or a storage failure.")
    job_lease_seconds: PositiveFloat = Field(
        60, description="A running job's lease, renewed by its worker; when it lapses the job runs again elsewhere."
    )
    job_retry_delay: float = Field(
        5, ge=0, description="Seconds before a job retries after an infrastructure failure, doubled per attempt."
    )
    reconcile_seconds: PositiveFloat = Field(
        2, description="How often the API hands waiting jobs to the queue and re-queues jobs whose lease lapsed."
    )
    gc_grace_seconds: float = Field(
        24 * 3600, ge=0, description="Age before `vitrine3d gc` removes a stored object that no version references."
    )
    api_requests_per_minute: PositiveInt = Field(
        1200, description="Requests per API key and minute, per API process (429 with Retry-After beyond)."
    )
    max_queued_jobs_per_tenant: PositiveInt = Field(
        1000, description="Jobs a tenant may have waiting; more uploads get 429 with Retry-After until some run."
    )
    events_per_minute: PositiveInt = Field(
        120, description="Shopper events (POST /v1/events) accepted per client address and minute."
    )
    webhook_retry_base_seconds: PositiveFloat = Field(
        30, description="Seconds before a failed webhook delivery is sent again; doubled per attempt, with jitter."
    )
    webhook_max_attempts: PositiveInt = Field(10, description="Sends of a webhook delivery before it is marked failed.")
    webhook_timeout_seconds: PositiveFloat = Field(5, description="How long a webhook receiver has to answer.")
    webhook_allow_private_urls: bool = Field(
        False,
        description=(
            "Allow webhook URLs on private, loopback and link-local addresses. Off: tenant-supplied URLs "
            "cannot reach this server's own network (SSRF). Turn on only where every tenant is trusted."
        ),
    )
    limits: Limits = Limits()
    convert_function: str | None = Field(
        None,
        description=(
            "Test-only seam: `module:function` the conversion process calls instead of "
            "processing.pipeline.convert (same signature). Leave unset in production."
        ),
    )

    # What the settings build, shared by the API (api/main.py) and the worker (`vitrine3d worker`).

    def make_storage(self) -> Storage:
        return storage_from_url(
            self.storage_url, endpoint_url=self.s3_endpoint_url, public_base_url=self._storage_public_base_url()
        )

    def _storage_public_base_url(self) -> str | None:
        # Local objects are served by the API, whose base URL public_base_url already is.
        return None if self.storage_url.startswith("file:") else self.public_base_url

    def webhook_config(self) -> DeliveryConfig:
        from assets.webhook_delivery import DeliveryConfig

        return DeliveryConfig(
            retry_base_seconds=self.webhook_retry_base_seconds,
            max_attempts=self.webhook_max_attempts,
            timeout_seconds=self.webhook_timeout_seconds,
            allow_private_urls=self.webhook_allow_private_urls,
        )

    def runner_config(self) -> RunnerConfig:
        from assets.runner import RunnerConfig

        return RunnerConfig(
            data_dir=self.data_dir,
            soft_timeout=self.job_soft_timeout,
            hard_timeout=self.job_hard_timeout,
            memory_bytes=self.job_memory_bytes,
            concurrency=self.job_concurrency,
            max_attempts=self.job_max_attempts,
            convert_function=self.convert_function,
            lease_seconds=self.job_lease_seconds,
            retry_delay=self.job_retry_delay,
        )
