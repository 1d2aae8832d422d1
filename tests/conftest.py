"""Shared test set-up. The database is DATABASE_URL, or an embedded PostgreSQL
started by the sandbox settings (see lifecycle_plugin/sandbox/embedded_pg.py)."""
