"""Accounts: password policy, credentials that end together, managing users by permission and
scope, no privilege escalation, and the store-backed sign-in throttle (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from jiqun import accounts
from jiqun.accounts import Claim, claimed_user, open_session, password_problem
from jiqun.demo import DEMO_LOGINS, DEMO_PASSWORD
from jiqun.errors import Conflict, Invalid, NotAllowed, NotFound
from jiqun.permissions import Action, Actor, allowed
from jiqun.store.models import LoginAttempt, LoginGuard, OrgLevel, Role, User, WebSession
from jiqun.web.security import LoginThrottle
from tests.conftest import build_org

GOOD = "correct-horse-9"


@pytest.mark.parametrize("password, problem", [
    ("short-9", "The password needs at least 10 characters"),
    ("123456789012", "The password may not be digits only"),
    ("hz-manager-1", "The password may not be the user name"),
    ("HZ-MANAGER-1", "The password may not be the user name"),
    ("password123", "This password is too common; choose another"),
    ("Qwertyuiop", "This password is too common; choose another"),
    ("x" * 129, "The password may have at most 128 characters"),
    ("correct-horse-9", None),
    ("十个汉字的密码短语好记", None),
])
def test_password_policy(password, problem):
    assert password_problem(password, "hz-manager-1") == problem


def test_the_demo_password_passes_the_policy_for_every_demo_login():
    """The demo builder hashes DEMO_PASSWORD without the policy check; it would pass it."""
    assert len(DEMO_PASSWORD) == 10
    for username, _role, _code in DEMO_LOGINS:
        assert password_problem(DEMO_PASSWORD, username) is None, username


def _people(store):
    org = build_org(store)
    with store.transaction() as s:
        ids = {name: accounts.add_user(s, name, GOOD, unit, role).id for name, unit, role in [
            ("hq-admin", org.hq, Role.ADMIN),
            ("zj-prov", org.zhejiang, Role.PROVINCIAL_MANAGER),
            ("hz-city", org.huzhou, Role.CITY_MANAGER),
            ("hgz-city", org.hangzhou, Role.CITY_MANAGER),
            ("wx-county", org.wuxing, Role.COUNTY_MANAGER),
            ("zl-marketer", org.zhili_outlet, Role.MARKETER),
        ]}
    return org, ids


@pytest.fixture
def people(store):
    return _people(store)


def _as(store, name):
    return store.transaction(actor=store.actor(name))


# -- credentials end together -------------------------------------------------------------------
def _current(store, claim) -> bool:
    with store.session() as s:
        return claimed_user(s, claim) is not None


def test_a_password_change_or_disabling_ends_every_session_and_token(store, people):
    _org, ids = people
    with store.transaction() as s:
        user = s.get(User, ids["hz-city"])
        sessions = [Claim(session_id=open_session(s, user, 3600)) for _ in range(2)]
        token = Claim(user_id=user.id, auth_epoch=user.auth_epoch)
    assert all(_current(store, c) for c in (*sessions, token))

    with _as(store, "hq-admin") as s:
        accounts.reset_password(s, ids["hz-city"], "another-horse-7")
    assert not any(_current(store, c) for c in (*sessions, token))
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 0
        user = s.get(User, ids["hz-city"])
        fresh = Claim(user_id=user.id, auth_epoch=user.auth_epoch)
        assert accounts.authenticate(s, "hz-city", "another-horse-7") is not None
    assert _current(store, fresh)

    with _as(store, "zj-prov") as s:
        accounts.update_user(s, ids["hz-city"], active=False)
    assert not _current(store, fresh)
    with _as(store, "zj-prov") as s:
        accounts.update_user(s, ids["hz-city"], active=True)
    assert not _current(store, fresh), "enabling again does not revive old tokens"


def test_a_password_set_by_any_code_path_ends_sessions(store, people):
    """The epoch rises in a flush listener, so even a direct ORM change counts."""
    _org, ids = people
    with store.transaction() as s:
        user = s.get(User, ids["zl-marketer"])
        claim = Claim(session_id=open_session(s, user, 3600))
    with store.transaction() as s:
        s.get(User, ids["zl-marketer"]).password_hash = accounts.hash_password("new-horse-77")
    assert not _current(store, claim)


def test_expired_sessions_are_refused(store, people):
    _org, ids = people
    with store.transaction() as s:
        claim = Claim(session_id=open_session(s, s.get(User, ids["hz-city"]), -1))
    assert not _current(store, claim)
    assert not _current(store, Claim(session_id="not-a-session"))


# -- managing users -----------------------------------------------------------------------------
def test_a_city_manager_adds_staff_in_the_city_only(store, people):
    org, _ids = people
    with _as(store, "hz-city") as s:
        user = accounts.create_user(s, "zl-new", GOOD, org.zhili_outlet, Role.MARKETER, "新人")
        assert [u.username for u in accounts.list_users(s)] == [
            "hz-city", "wx-county", "zl-marketer", "zl-new"]
    assert user.role is Role.MARKETER
    with _as(store, "hz-city") as s, pytest.raises(Invalid) as err:
        accounts.create_user(s, "hgz-new", GOOD, org.xihu, Role.MARKETER)
    assert err.value.errors == {"org": "No such org unit in your part of the organisation"}
    with _as(store, "hz-city") as s, pytest.raises(Invalid) as err:
        accounts.create_user(s, "zl-new", GOOD, org.zhili_outlet, Role.MARKETER)
    assert err.value.errors == {"username": "This user name is taken"}
    with _as(store, "hz-city") as s, pytest.raises(Invalid) as err:
        accounts.create_user(s, "zl-weak", "zl-weak", org.zhili_outlet, Role.MARKETER)
    assert err.value.errors == {"password": "The password needs at least 10 characters"}
    with _as(store, "hz-city") as s, pytest.raises(Invalid):
        accounts.create_user(s, "System", GOOD, org.zhili_outlet, Role.MARKETER)


@pytest.mark.parametrize("role, ok", [
    (Role.ADMIN, False), (Role.PROVINCIAL_MANAGER, False), (Role.HQ_BUSINESS, False),
    (Role.SUPERVISOR, False), (Role.CITY_MANAGER, True), (Role.COUNTY_MANAGER, True),
    (Role.DEPARTMENT_HEAD, True), (Role.MARKETER, True), (Role.COURIER, True),
])
def test_no_privilege_escalation_for_a_city_manager(store, people, role, ok):
    org, ids = people
    actor = store.actor("hz-city")
    assert accounts.may_grant(actor, role) is ok
    if ok:
        with _as(store, "hz-city") as s:
            accounts.create_user(s, "hz-new", GOOD, org.huzhou, role)
            accounts.update_user(s, ids["wx-county"], role=role)
        return
    with _as(store, "hz-city") as s, pytest.raises(NotAllowed):
        accounts.create_user(s, "hz-new", GOOD, org.huzhou, role)
    with _as(store, "hz-city") as s, pytest.raises(NotAllowed):
        accounts.update_user(s, ids["wx-county"], role=role)


def test_the_granting_rule_follows_the_registry():
    """Every right a granted role has beyond the granter's is field work."""
    for granter in Role:
        actor = Actor(1, "x", granter, OrgLevel.CITY, 1)
        for role in Role:
            extra = accounts.role_powers(role) - accounts.role_powers(granter)
            assert accounts.may_grant(actor, role) == (extra <= accounts.FIELD_WORK)
    assert Action.POOL_CLAIM in accounts.FIELD_WORK
    assert Action.TEAM_DECIDE not in accounts.FIELD_WORK


def test_managing_users_needs_the_permission_and_the_subtree(store, people):
    _org, ids = people
    with _as(store, "zl-marketer") as s, pytest.raises(NotAllowed):
        accounts.update_user(s, ids["zl-marketer"], display_name="x")
    with _as(store, "hz-city") as s, pytest.raises(NotFound):
        accounts.update_user(s, ids["hgz-city"], active=False)
    with _as(store, "hz-city") as s, pytest.raises(NotFound):
        accounts.get_user(s, ids["zj-prov"])
    with _as(store, "hz-city") as s, pytest.raises(NotAllowed):
        accounts.update_user(s, ids["hz-city"], active=False)  # not oneself
    with _as(store, "hz-city") as s, pytest.raises(NotAllowed):
        accounts.reset_password(s, ids["zl-marketer"], "another-horse-7")  # admins only
    assert not allowed(store.actor("hz-city"), Action.PASSWORD_RESET)


def test_a_stale_version_is_a_conflict(store, people):
    _org, ids = people
    with store.session() as s:
        seen = s.get(User, ids["zl-marketer"]).version
    with _as(store, "hz-city") as s:
        accounts.update_user(s, ids["zl-marketer"], display_name="营销一", version=seen)
    with _as(store, "hz-city") as s, pytest.raises(Conflict) as err:
        accounts.update_user(s, ids["zl-marketer"], role=Role.COURIER, version=seen)
    assert err.value.mine == {"version": seen} and err.value.theirs == {"version": seen + 1}


def test_user_changes_are_audited_with_the_actor(store, people):
    from jiqun.store.models import AuditEntry

    _org, ids = people
    with _as(store, "hz-city") as s:
        accounts.update_user(s, ids["zl-marketer"], role=Role.COURIER)
    with _as(store, "hq-admin") as s:
        accounts.reset_password(s, ids["zl-marketer"], "another-horse-7")
    with store.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.entity == "users",
                                                     AuditEntry.action == "update")
                            .order_by(AuditEntry.id)).all()
    assert [(e.username, e.changes.get("role")) for e in entries][0] == (
        "hz-city", ["marketer", "courier"])
    assert entries[1].username == "hq-admin"
    assert entries[1].changes["password_hash"] == ["***", "***"]


def test_changing_ones_own_password_needs_the_current_one(store, people):
    _org, ids = people
    with _as(store, "zl-marketer") as s, pytest.raises(Invalid) as err:
        accounts.change_own_password(s, "wrong-password", "another-horse-7")
    assert err.value.errors == {"current_password": "The current password is wrong"}
    with _as(store, "zl-marketer") as s, pytest.raises(Invalid) as err:
        accounts.change_own_password(s, GOOD, "1234567890123")
    assert err.value.errors == {"password": "The password may not be digits only"}
    with _as(store, "zl-marketer") as s:
        accounts.change_own_password(s, GOOD, "another-horse-7")
    with store.session() as s:
        assert accounts.authenticate(s, "zl-marketer", "another-horse-7").id == ids["zl-marketer"]
        assert accounts.authenticate(s, "zl-marketer", GOOD) is None


# -- the throttle -------------------------------------------------------------------------------
def _guess(throttle, counter, lock, client="203.0.113.9"):
    attempt = throttle.reserve(client, "hz-city")
    if attempt is None:
        return False
    with lock:
        counter.append(1)
    accounts.verify_password(None, "wrong-guess")  # the real work of a wrong guess
    throttle.failed(attempt)
    return True


def test_of_100_parallel_wrong_guesses_only_the_limit_is_evaluated(any_store):
    _people(any_store)
    throttle = LoginThrottle(any_store, max_failures=5, window=300)
    evaluated, lock = [], threading.Lock()
    with ThreadPoolExecutor(max_workers=25) as pool:
        results = list(pool.map(lambda _: _guess(throttle, evaluated, lock), range(100)))
    assert sum(results) == len(evaluated) == 5
    with any_store.session() as s:
        states = s.scalars(select(LoginAttempt.state)).all()
    assert states == ["failed"] * 5
    assert throttle.reserve("198.51.100.1", "hz-city") is not None  # another client may try


def test_two_throttles_on_one_store_share_the_count_and_survive_a_restart(any_store):
    first = LoginThrottle(any_store, max_failures=5, window=300)
    second = LoginThrottle(any_store, max_failures=5, window=300)
    for throttle in (first, second, first, second, first):
        throttle.failed(throttle.reserve("203.0.113.9", "HZ-City"))
    assert first.reserve("203.0.113.9", "hz-city") is None
    assert second.reserve("203.0.113.9", "hz-city") is None
    restarted = LoginThrottle(any_store, max_failures=5, window=300)
    assert restarted.blocked("203.0.113.9", "hz-city")
    assert restarted.reserve("203.0.113.9", "hz-city") is None


def test_a_success_clears_the_clients_failures_and_the_window_forgets(any_store):
    throttle = LoginThrottle(any_store, max_failures=3, window=300)
    for _ in range(2):
        throttle.failed(throttle.reserve("203.0.113.9", "hz-city"))
    throttle.succeeded(throttle.reserve("203.0.113.9", "hz-city"))
    for _ in range(3):
        assert throttle.reserve("203.0.113.9", "hz-city") is not None
    assert throttle.reserve("203.0.113.9", "hz-city") is None, "pending attempts count"
    forgetful = LoginThrottle(any_store, max_failures=3, window=-1)  # every attempt is old
    assert forgetful.reserve("203.0.113.9", "hz-city") is not None


def test_many_clients_on_one_name_hit_the_per_user_cap(any_store):
    throttle = LoginThrottle(any_store, max_failures=5, window=300, max_failures_per_user=8)
    for n in range(8):
        throttle.failed(throttle.reserve(f"203.0.113.{n}", "hz-city"))
    assert throttle.reserve("203.0.113.200", "hz-city") is None
    assert throttle.reserve("203.0.113.200", "hgz-city") is not None


def test_names_nobody_tried_within_the_window_are_forgotten(any_store):
    throttle = LoginThrottle(any_store, max_failures=5, window=300)
    for name in ("sprayed-1", "sprayed-2", "sprayed-3"):
        throttle.failed(throttle.reserve("203.0.113.9", name))
    later = LoginThrottle(any_store, max_failures=5, window=-1)  # all of them are old now
    for _ in range(3):
        later.failed(later.reserve("203.0.113.9", "hz-city"))
    with any_store.session() as s:
        names = set(s.scalars(select(LoginAttempt.username)))
        guards = set(s.scalars(select(LoginGuard.username)))
    assert names == guards == {"hz-city"}
