"""Persistence: SQLAlchemy models, Alembic migrations and the `Repository` the bot uses.

SQLite is the zero-set-up default; PostgreSQL is production, shared by several bot
replicas. Callers get plain frozen dataclasses back, never ORM objects.
"""
