"""``jiqun users …`` acting as a user: the same permissions, scope and policy as the web."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from jiqun.accounts import Claim, authenticate, claimed_user
from jiqun.cli import app
from jiqun.config import get_settings
from jiqun.store.models import Role, User
from tests.test_accounts import GOOD, _people


@pytest.fixture
def cli(store, monkeypatch):
    monkeypatch.setenv("JIQUN_STORE_URL", store.url)
    monkeypatch.setenv("JIQUN_LOCALE", "en")
    monkeypatch.delenv("JIQUN_USER", raising=False)
    get_settings.cache_clear()
    org, ids = _people(store)

    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(app, ["users", *args], input=input)

    yield run, ids
    get_settings.cache_clear()


def _user(store, name) -> User:
    with store.session() as s:
        return s.scalars(select(User).where(User.username == name)).one()


def test_a_city_manager_adds_and_lists_users_of_the_city(cli, store):
    run, _ids = cli
    added = run("add", "zl-new", "--org", "ZJ-HUZ-WX-ZL", "--role", "courier",
                "--password", GOOD, "--name", "新揽投员", "--user", "hz-city")
    assert added.exit_code == 0, added.output
    assert _user(store, "zl-new").role is Role.COURIER
    listed = run("list", "--user", "hz-city")
    assert listed.exit_code == 0
    names = [line.split("│")[1].strip() for line in listed.output.splitlines()
             if line.startswith("│")]
    assert names == ["hz-city", "wx-county", "zl-marketer", "zl-new"]


@pytest.mark.parametrize("args, message", [
    (["add", "x-admin", "--org", "ZJ-HUZ", "--role", "admin", "--password", GOOD],
     "You may not give the role Administrator"),
    (["add", "x-prov", "--org", "ZJ-HUZ", "--role", "provincial_manager", "--password", GOOD],
     "You may not give the role Provincial manager"),
    (["add", "x-hgz", "--org", "ZJ-HGZ", "--role", "marketer", "--password", GOOD],
     "No such org unit in your part of the organisation"),
    (["add", "x-weak", "--org", "ZJ-HUZ", "--role", "marketer", "--password", "1234567890"],
     "digits only"),
    (["disable", "hgz-city"], "Not found"),
    (["role", "zl-marketer", "admin"], "You may not give the role Administrator"),
    (["reset-password", "zl-marketer", "--password", GOOD], "Your role may not do this"),
])
def test_refusals_are_one_clear_line_and_exit_2(cli, args, message):
    run, _ids = cli
    result = run(*args, "--user", "hz-city")
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_marketer_may_not_manage_users(cli):
    run, _ids = cli
    result = run("disable", "zl-marketer", "--user", "zl-marketer")
    assert result.exit_code == 2 and "Your role may not do this" in result.output


def test_disable_enable_and_role_through_the_cli_end_sessions(cli, store):
    run, ids = cli
    before = _user(store, "zl-marketer")
    token = Claim(user_id=before.id, auth_epoch=before.auth_epoch)
    assert run("disable", "zl-marketer", "--user", "hz-city").exit_code == 0
    with store.session() as s:
        assert claimed_user(s, token) is None
        assert authenticate(s, "zl-marketer", GOOD) is None
    assert run("enable", "zl-marketer", "--user", "hz-city").exit_code == 0
    assert run("role", "zl-marketer", "courier", "--user", "hz-city").exit_code == 0
    after = _user(store, "zl-marketer")
    assert (after.active, after.role) == (True, Role.COURIER)


def test_reset_password_by_an_admin_and_passwd_by_oneself(cli, store):
    run, _ids = cli
    reset = run("reset-password", "zl-marketer", "--user", "hq-admin",
                input="reset-horse-42\nreset-horse-42\n")
    assert reset.exit_code == 0, reset.output
    wrong = run("passwd", "--user", "zl-marketer", "--current", GOOD,
                "--password", "own-horse-4242")
    assert wrong.exit_code == 2 and "The current password is wrong" in wrong.output
    own = run("passwd", "--user", "zl-marketer", "--current", "reset-horse-42",
              "--password", "own-horse-4242")
    assert own.exit_code == 0, own.output
    with store.session() as s:
        assert authenticate(s, "zl-marketer", "own-horse-4242") is not None
    assert run("passwd", "--user", "system", "--current", "x",
               "--password", "own-horse-4242").exit_code == 2


def test_the_acting_user_is_required(cli):
    run, _ids = cli
    result = run("list")
    assert result.exit_code == 2 and "--user" in result.output
