"""A small, fresh world per test for the account tests: the org tree, a few users, no lake data.

The module-scoped web world keeps its store for a whole test module, and the sign-in throttle
now lives in the store, so tests that count failed sign-ins or end sessions use this instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi.testclient import TestClient

from jiqun.accounts import add_user
from jiqun.config import Settings
from jiqun.store import Store
from jiqun.store.models import Role
from jiqun.web.app import create_app
from tests.conftest import Org, build_org
from tests.web.conftest import PASSWORD, login

PEOPLE = [
    ("hq-admin", "hq", Role.ADMIN, "总部管理员"),
    ("zj-prov", "zhejiang", Role.PROVINCIAL_MANAGER, "浙江经理"),
    ("hz-city", "huzhou", Role.CITY_MANAGER, "湖州经理"),
    ("hgz-city", "hangzhou", Role.CITY_MANAGER, "杭州经理"),
    ("wx-county", "wuxing", Role.COUNTY_MANAGER, "吴兴经理"),
    ("zl-marketer", "zhili_outlet", Role.MARKETER, "织里营销员"),
]


@dataclass
class Small:
    store: Store
    settings: Settings
    org: Org
    ids: dict[str, int] = field(default_factory=dict)

    def app(self, **changes):
        return create_app(self.settings.model_copy(update=changes))

    def client(self, app=None, **kwargs) -> TestClient:
        return TestClient(app or self.app(), **kwargs)

    def signed_in(self, username: str, app=None, password: str = PASSWORD) -> TestClient:
        client = self.client(app)
        response = login(client, username, password)
        assert response.status_code == 303, response.text
        return client


def small_world(tmp_path, **settings) -> Small:
    store = Store(f"sqlite:///{tmp_path}/store.db")
    store.upgrade()
    org = build_org(store)
    small = Small(store, Settings(store_url=store.url, lake_path=tmp_path / "lake",
                                  environment="test", secret_key="test-secret-key",
                                  locale="zh-CN", **settings), org)
    with store.transaction() as s:
        for username, unit, role, name in PEOPLE:
            small.ids[username] = add_user(s, username, PASSWORD, getattr(org, unit), role,
                                           name).id
    return small
