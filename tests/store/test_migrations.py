"""Migrations build the whole domain from an empty database, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from jiqun.store.models import Base


def test_migrations_create_every_table_of_the_models(any_store):
    tables = set(inspect(any_store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_agree(any_store):
    with any_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], "regenerate the migration: models changed without one"


def test_upgrade_twice_is_harmless(any_store):
    any_store.upgrade()
    assert "customers" in inspect(any_store.engine).get_table_names()
