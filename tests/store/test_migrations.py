"""Migrations build the whole domain from an empty database, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from jiqun.store.models import Base, on_dialect


def test_migrations_create_every_table_of_the_models(any_store):
    tables = set(inspect(any_store.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_agree(any_store):
    with any_store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_object": on_dialect(conn.dialect.name)})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], "regenerate the migration: models changed without one"


def test_upgrade_twice_is_harmless(any_store):
    any_store.upgrade()
    assert "customers" in inspect(any_store.engine).get_table_names()


def test_the_org_path_index_serves_the_scopes_prefix_lookups(any_store):
    from sqlalchemy import text

    indexes = {i["name"]: i["column_names"] for i in inspect(any_store.engine).get_indexes(
        "org_units")}
    assert indexes["ix_org_units_path"] == ["path"]
    if any_store.engine.dialect.name != "postgresql":
        return  # SQLite: a plain index on the path is all there is
    with any_store.engine.connect() as conn:
        definition = conn.execute(text(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_org_units_path'")).scalar()
        assert "varchar_pattern_ops" in definition
        conn.execute(text("SET enable_seqscan = off"))  # a tiny table: ask for the index
        plan = " ".join(r[0] for r in conn.execute(text(
            "EXPLAIN SELECT id FROM org_units WHERE path LIKE '/1/5/%'")))
    assert "ix_org_units_path" in plan and "~>=~" in plan
