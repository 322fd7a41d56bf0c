"""Alembic migrations of the database schema, run by store.db.migrate."""
