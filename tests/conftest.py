"""Shared fixtures: a migrated store (SQLite always, PostgreSQL when JIQUN_TEST_PG_URL is set)
and a small organisation tree."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, make_url, text

from jiqun.store import Store
from jiqun.store.models import OrgUnit
from jiqun.store.org import add_unit

PG_URL = os.environ.get("JIQUN_TEST_PG_URL")
# Tests use the built-in KPI rules and planning parameters unless they say otherwise, whatever
# ./var holds. The paths lie under a file, so they can never be created: a test that writes
# settings files (``jiqun demo build``) without its own paths fails instead of leaking them
# into every later test of the run.
os.environ["JIQUN_RULES_FILE"] = "/dev/null/jiqun-kpi-rules.toml"
os.environ["JIQUN_PLANNING_FILE"] = "/dev/null/jiqun-planning.toml"
# No app of a test starts the job scheduler (jiqun serve's default): jobs run in the tests that
# call them, never on a clock in the background of another test.
os.environ["JIQUN_SERVE_JOBS"] = "false"
os.environ["JIQUN_SERVE_WARMUP"] = "false"  # tests warm explicitly (tests/web/test_warmup.py)


def _pg_database() -> tuple[str, callable]:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"jiqun_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ]
)
def any_store(request, tmp_path):
    """A migrated, empty store on each database the tests can reach."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path}/store.db")
        drop = None
    else:
        if not PG_URL:
            pytest.skip("PostgreSQL not configured: set JIQUN_TEST_PG_URL (.ci/run does)")
        url, drop = _pg_database()
        store = Store(url)
    store.upgrade()
    yield store
    store.engine.dispose()
    if drop:
        drop()


@pytest.fixture
def store(tmp_path):
    """A migrated, empty SQLite store."""
    store = Store(f"sqlite:///{tmp_path}/store.db")
    store.upgrade()
    yield store
    store.engine.dispose()


@dataclass
class Org:
    hq: OrgUnit
    zhejiang: OrgUnit
    huzhou: OrgUnit
    hangzhou: OrgUnit
    wuxing: OrgUnit  # county of Huzhou
    zhili_outlet: OrgUnit  # outlet in Wuxing
    xihu: OrgUnit  # county of Hangzhou


def build_org(store: Store) -> Org:
    with store.transaction() as s:
        hq = add_unit(s, None, "HQ", "集团总部", adcode="100000")
        zj = add_unit(s, hq, "ZJ", "浙江省分公司", adcode="330000")
        hz = add_unit(s, zj, "ZJ-HUZ", "湖州市分公司", adcode="330500")
        hgz = add_unit(s, zj, "ZJ-HGZ", "杭州市分公司", adcode="330100")
        wx = add_unit(s, hz, "ZJ-HUZ-WX", "吴兴区分公司", adcode="330502")
        zl = add_unit(s, wx, "ZJ-HUZ-WX-ZL", "织里揽投部", adcode="330502")
        xh = add_unit(s, hgz, "ZJ-HGZ-XH", "西湖区分公司", adcode="330106")
        return Org(hq, zj, hz, hgz, wx, zl, xh)


@pytest.fixture
def org(store) -> Org:
    return build_org(store)
