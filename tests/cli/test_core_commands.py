"""`jiqun init` and `jiqun users …` through the real CLI."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from jiqun.accounts import authenticate
from jiqun.cli import app
from jiqun.config import get_settings
from jiqun.store import Store
from jiqun.store.models import AuditEntry, User
from tests.conftest import build_org


@pytest.fixture
def env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("JIQUN_STORE_URL", url)
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("JIQUN_LOCALE", "en")
    monkeypatch.delenv("JIQUN_USER", raising=False)
    get_settings.cache_clear()
    yield url, tmp_path
    get_settings.cache_clear()


def test_init_creates_store_and_lake(env):
    url, tmp_path = env
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "lake").is_dir()
    store = Store(url)
    with store.session() as s:
        assert s.scalars(select(User)).all() == []


def test_users_add_hashes_the_password_and_audits(env):
    url, _ = env
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    store = Store(url)
    build_org(store)
    result = CliRunner().invoke(
        app, ["users", "add", "li.lei", "--org", "ZJ-HUZ", "--role", "marketer",
              "--password", "secret-pass-1", "--user", "system"])
    assert result.exit_code == 0, result.output
    with store.session() as s:
        user = s.scalars(select(User)).one()
        assert user.password_hash.startswith("$argon2")
        assert authenticate(s, "li.lei", "secret-pass-1").id == user.id
        assert authenticate(s, "li.lei", "wrong") is None
        entry = s.scalars(select(AuditEntry).where(AuditEntry.entity == "users")).one()
        assert entry.changes["password_hash"] == "***" and entry.source == "cli"


@pytest.mark.parametrize("args, message", [
    (["--org", "NOPE", "--password", "secret-pass-1"], "No such org unit"),
    (["--org", "ZJ-HUZ", "--password", "short-pw"], "at least 10 characters"),
])
def test_users_add_refuses_bad_input(env, args, message):
    url, _ = env
    CliRunner().invoke(app, ["init"])
    build_org(Store(url))
    result = CliRunner().invoke(app, ["users", "add", "x", *args, "--user", "system"])
    assert result.exit_code == 2 and message in result.output
