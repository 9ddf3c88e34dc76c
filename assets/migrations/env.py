"""Alembic's environment: runs the revisions on a connection given by assets/db.py, or on a URL.

`assets.db.migrate(engine)` passes its own connection (config.attributes["connection"]); the
`alembic` command line (alembic.ini) connects to VITRINE_DATABASE_URL, or the ini's default.
SQLite cannot ALTER most things, so revisions run in batch mode there (Alembic copies the table).
On PostgreSQL a transaction-scoped advisory lock makes API replicas that start together migrate
one after the other instead of racing.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, text

from assets.models import Base

# Any fixed number: the key of the advisory lock that serialises migrations on PostgreSQL.
MIGRATION_LOCK = 736_390_001


def run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    url = os.environ.get("VITRINE_DATABASE_URL") or context.config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    with engine.connect() as connection:
        run(connection)
    engine.dispose()
