"""The catalog database: engine and session factory from a URL, and its schema migrations.

SQLite is the default (one file in ./data); it is opened in WAL mode with a busy timeout, so the
API threads and the job runner thread read and write side by side without "database is locked".
PostgreSQL (`postgresql+psycopg://…`) works unchanged: same models, same migrations.

The schema is Alembic's (assets/migrations/): `migrate` brings any database to the newest
revision, and is what the API runs at start-up (`vitrine3d migrate` does it on its own). A
catalog made before migrations existed (tables created at start-up, no alembic_version) is
stamped with the first revision, which is exactly what those tables were, then upgraded.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"  # the tables the foundation created without migrations


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL saves an fsync per commit and stays consistent after any crash; only a
    # power cut can lose the last few commits.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")  # the cascades in models.py rely on it
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # Rows are read after commit (to build responses), so keep their loaded values.
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the catalog's schema to `revision` (the newest by default); a no-op when it is there."""
    from alembic import command

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        tables = set(inspect(connection).get_table_names())
        if "products" in tables and "alembic_version" not in tables:
            command.stamp(config, BASELINE)
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Undo revisions down to `revision` ("base": nothing left); for tests and operators."""
    from alembic import command

    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config
