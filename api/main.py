"""The application factory: `create_app(settings)` wires settings, catalog, storage and runner.

Serve it with `vitrine3d serve` (uvicorn's factory mode: `uvicorn --factory api.main:create_app`).
Each app owns its engine, storage and runner (kept on `app.state`), so tests create as many
apps as they like, each on its own data directory. The lifespan migrates the catalog's schema,
clears half-received uploads, and starts the runner, which first re-queues the jobs a previous
process left running; on shutdown it stops the runner (running conversions are queued again).
With a queue URL (`VITRINE_QUEUE_URL=redis://…`) the runner is instead the RQ dispatcher, and
`vitrine3d worker` processes run the conversions (assets/queue_rq.py).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from assets.db import make_engine, make_session_factory, migrate
from assets.queue_rq import Dispatcher
from assets.runner import Runner
from assets.storage import LocalStorage
from assets.webhook_delivery import Deliverer
from viewer.pages import STATIC_DIR, STATIC_URL
from viewer.poster import close_renderer

from .errors import install_error_handlers
from .openapi import install_openapi
from .rate_limit import RateLimiter
from .routes import dashboard, direct_uploads, embed, events, files, jobs, pages, products, qr, versions, webhooks
from .static_files import PublicStaticFiles
from .settings import AppSettings

DESCRIPTION = """Upload a product's 3D file; get a web GLB, an iPhone USDZ at real-world scale, and
a `<model-viewer>` page for AR. Calls under /v1 need `Authorization: Bearer <key>`
(`vitrine3d keys create`). Errors are `{"error": {"code", "message"}}`."""


def create_app(settings: AppSettings | None = None) -> FastAPI:
    settings = settings or AppSettings()
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    storage = settings.make_storage()
    runner: Runner | Dispatcher
    if settings.queue_url:
        runner = Dispatcher(
            sessions,
            settings.queue_url,
            # RQ's own timeout only backs up the worker's: the conversion, then a publish.
            job_timeout=settings.job_hard_timeout + 2 * settings.job_lease_seconds,
            max_attempts=settings.job_max_attempts,
            interval=settings.reconcile_seconds,
        )
    else:
        runner = Runner(sessions, storage, settings.runner_config())
    deliverer = Deliverer(sessions, settings.webhook_config())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(migrate, engine)
        shutil.rmtree(settings.data_dir / "incoming", ignore_errors=True)  # uploads cut off by a stop
        runner.start()
        deliverer.start()  # webhook deliveries, sent in the background (assets/webhook_delivery.py)
        try:
            yield
        finally:
            await run_in_threadpool(deliverer.stop)
            await run_in_threadpool(runner.stop)
            await run_in_threadpool(close_renderer)  # the poster browser, if publishing started one
            engine.dispose()

    app = FastAPI(title="Vitrine3D", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.storage = storage
    app.state.runner = runner
    app.state.deliverer = deliverer
    app.state.event_limiter = RateLimiter(settings.events_per_minute)
    app.state.key_limiter = RateLimiter(settings.api_requests_per_minute)
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(products.router)
    app.include_router(versions.router)
    app.include_router(direct_uploads.router)
    app.include_router(jobs.router)
    app.include_router(pages.router)
    app.include_router(embed.router)
    app.include_router(qr.router)
    app.include_router(events.router)
    app.include_router(webhooks.router)
    app.include_router(dashboard.router)
    if isinstance(storage, LocalStorage):
        app.include_router(files.router)
    app.mount(STATIC_URL, PublicStaticFiles(directory=STATIC_DIR), name="static")
    return app
