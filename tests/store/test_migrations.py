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


def _one_row(conn, table, done: set) -> None:
    """Insert a row with id 1 into ``table`` (and first into every table it references),
    each NOT NULL column filled by its type: a store as an older version left it."""
    import datetime as dt

    from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Numeric, insert

    if table.name in done:
        return
    done.add(table.name)
    row = {}
    for column in table.columns:
        for fk in column.foreign_keys:
            if fk.column.table.name != table.name:
                _one_row(conn, fk.column.table, done)
        if column.primary_key or column.foreign_keys:
            row[column.name] = 1
        elif not column.nullable and column.server_default is None:
            kind = column.type
            row[column.name] = (
                dt.datetime(2026, 1, 1) if isinstance(kind, DateTime) else
                dt.date(2026, 1, 1) if isinstance(kind, Date) else
                False if isinstance(kind, Boolean) else
                0 if isinstance(kind, (Integer, Float, Numeric)) else
                next(iter(getattr(kind, "enums", None) or []), None) or "虞城服装")
    conn.execute(insert(table).values(**row))


def test_an_archive_with_references_upgrades_to_the_search_keys(tmp_path):
    """0011 on a SQLite store whose customers are referenced (foreign keys on, as the app's
    connections have them): the keys are added and filled without rebuilding the table."""
    from sqlalchemy import MetaData, select, text

    from jiqun.store import Store, search_keys
    from jiqun.store.migrate import upgrade

    store = Store(f"sqlite:///{tmp_path}/old.db")
    upgrade(store.engine, "0010")
    old = MetaData()
    old.reflect(store.engine)
    with store.engine.begin() as conn:
        done: set = set()
        _one_row(conn, old.tables["customers"], done)
        _one_row(conn, old.tables["customer_carriers"], done)
    upgrade(store.engine)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0011"
        keys = conn.execute(select(text("fragment_key, words_key")).select_from(
            text("customers"))).one()
        assert (keys.fragment_key, keys.words_key) == (
            search_keys.fragment_key("虞城服装"), search_keys.words_key("虞城服装", "虞城服装", None))
        assert conn.execute(text("SELECT count(*) FROM customer_carriers")).scalar() == 1
