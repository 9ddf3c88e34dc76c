"""Alembic migrations of the catalog: the same revisions on SQLite and PostgreSQL (see assets/db.py)."""
