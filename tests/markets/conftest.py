"""The web tests' two-city world (湖州, 杭州 in 浙江), built fresh for tests that write.

Markets: 织里 (M-ZL, Wuxing county of Huzhou, key area, estimates 40 → 50 a day from 1 June),
湖州电商园 (M-HZP, Huzhou, no estimate, one merchant estimating 20 a day), 西湖直播基地 (M-XH,
Hangzhou, key area, estimate 100). Data date 2024-06-15. Users: hz-city, hgz-city (city
managers), zj-prov (provincial manager), zl-marketer.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from jiqun.cli import app as cli_app
from jiqun.config import get_settings
from jiqun.store import Scope, Store
from jiqun.store.models import OrgUnit, User
from tests.web.conftest import World, build_world


@pytest.fixture
def world(tmp_path) -> World:
    store = Store(f"sqlite:///{tmp_path}/store.db")
    store.upgrade()
    built = build_world(store, tmp_path / "lake")
    store.engine.dispose()
    return built


@pytest.fixture
def wstore(world) -> Store:
    store = Store(world.settings.store_url)
    yield store
    store.engine.dispose()


def unit_id(store: Store, code: str) -> int:
    with store.session() as s:
        return s.scalars(select(OrgUnit.id).where(OrgUnit.code == code)).one()


def acting(store: Store, username: str):
    """A committed session as ``username`` would have it: their scope, id and source."""
    with store.session() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        scope = Scope.for_unit(s, user.org_unit_id)
    return store.transaction(scope=scope, user_id=user.id, source="test")


@pytest.fixture
def cli(world, monkeypatch):
    """``jiqun …`` on the world's store and lake, in English: ``cli("markets", "top", …)``."""
    monkeypatch.setenv("JIQUN_STORE_URL", world.settings.store_url)
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(world.settings.lake_path))
    monkeypatch.setenv("JIQUN_LOCALE", "en")
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli_app, list(args))
    get_settings.cache_clear()
