"""Alembic migrations of the SQL schema; run them with :func:`ostiary.storage.sql.upgrade`."""
