"""The application factory: `create_app(settings)` wires settings, catalog, storage and runner.

Serve it with `vitrine3d serve` (uvicorn's factory mode: `uvicorn --factory api.main:create_app`).
Each app owns its engine, storage and runner (kept on `app.state`), so tests create as many
apps as they like, each on its own data directory. The lifespan creates the tables, clears
half-received uploads, and starts the runner, which first re-queues the jobs a previous process
left running; on shutdown it stops the runner (running conversions are queued again).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from assets.db import create_tables, make_engine, make_session_factory
from assets.runner import Runner, RunnerConfig
from assets.storage import LocalStorage, storage_from_url
from viewer.pages import STATIC_DIR, STATIC_URL

from .errors import install_error_handlers
from .routes import files, jobs, pages, products
from .settings import AppSettings

DESCRIPTION = """Upload a product's 3D file; get a web GLB, an iPhone USDZ at real-world scale, and
a `<model-viewer>` page for AR. Calls under /v1 need `Authorization: Bearer <key>`
(`vitrine3d keys create`). Errors are `{"error": {"code", "message"}}`."""


def create_app(settings: AppSettings | None = None) -> FastAPI:
    settings = settings or AppSettings()
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    storage = storage_from_url(settings.storage_url)
    runner = Runner(
        sessions,
        storage,
        RunnerConfig(
            data_dir=settings.data_dir,
            soft_timeout=settings.job_soft_timeout,
            hard_timeout=settings.job_hard_timeout,
            memory_bytes=settings.job_memory_bytes,
            concurrency=settings.job_concurrency,
            max_attempts=settings.job_max_attempts,
            convert_function=settings.convert_function,
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        create_tables(engine)
        shutil.rmtree(settings.data_dir / "incoming", ignore_errors=True)  # uploads cut off by a stop
        runner.start()
        try:
            yield
        finally:
            await run_in_threadpool(runner.stop)
            engine.dispose()

    app = FastAPI(title="Vitrine3D", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.storage = storage
    app.state.runner = runner
    install_error_handlers(app)
    app.include_router(products.router)
    app.include_router(jobs.router)
    app.include_router(pages.router)
    if isinstance(storage, LocalStorage):
        app.include_router(files.router)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")
    return app
