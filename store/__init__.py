"""Relational state (SQLAlchemy 2.x): SQLite by default, PostgreSQL by URL."""
