"""Pool reminders in the inbox: the owner 3 days and the manager 5 days before a prospect
returns to the pool, one notification per customer × recipient × kind × due date."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from typer.testing import CliRunner

from jiqun.cli import app as cli_app
from jiqun.config import get_settings
from jiqun.i18n import translator
from jiqun.sales import reminders
from jiqun.sales.rules import SalesRules
from jiqun.store.models import LifecycleStage, Notification
from tests.sales.conftest import add_customer

TODAY = dt.date(2024, 7, 1)
RULES = SalesRules()  # pool 30 days, owner reminded 3 days before, manager 5


def _prospects(store, outlet):
    unit, owner = outlet.org.zhili_outlet.id, outlet.users["zl-marketer"]
    three = add_customer(store, unit, "P-3", LifecycleStage.NURTURING, owner_id=owner,
                         owned_since=TODAY - dt.timedelta(days=27), archived_on=dt.date(2024, 1, 1))
    five = add_customer(store, unit, "P-5", LifecycleStage.ARCHIVED, owner_id=owner,
                        owned_since=TODAY - dt.timedelta(days=25), archived_on=dt.date(2024, 1, 1))
    add_customer(store, unit, "P-20", LifecycleStage.ARCHIVED, owner_id=owner,
                 owned_since=TODAY - dt.timedelta(days=10), archived_on=dt.date(2024, 1, 1))
    return three, five


def _notes(store):
    with store.session() as s:
        return sorted(s.execute(select(Notification.user_id, Notification.customer_id,
                                       Notification.kind, Notification.due_on)).all())


def test_reminders_are_created_once(store, outlet):
    three, five = _prospects(store, outlet)
    owner, head = outlet.users["zl-marketer"], outlet.users["wx-head"]
    with store.transaction() as s:
        result = reminders.send_pool_reminders(s, TODAY, RULES)
    assert (result.created, result.existing) == (3, 0)
    due3, due5 = TODAY + dt.timedelta(days=3), TODAY + dt.timedelta(days=5)
    assert _notes(store) == sorted([
        (owner, three, "pool_owner", due3), (head, three, "pool_manager", due3),
        (head, five, "pool_manager", due5)])

    with store.transaction() as s:  # the same day again, and the next day: nothing new
        assert reminders.send_pool_reminders(s, TODAY, RULES).created == 0
    with store.transaction() as s:
        result = reminders.send_pool_reminders(s, TODAY + dt.timedelta(days=1), RULES)
    assert (result.created, result.existing) == (0, 3)
    with store.transaction() as s:  # two days later P-5 is 3 days from the pool: its owner
        assert reminders.send_pool_reminders(s, TODAY + dt.timedelta(days=2), RULES).created == 1
    assert (owner, five, "pool_owner", due5) in _notes(store)


def test_inbox_reads_and_marks(store, outlet):
    three, _ = _prospects(store, outlet)
    owner, head = outlet.users["zl-marketer"], outlet.users["wx-head"]
    with store.transaction() as s:
        reminders.send_pool_reminders(s, TODAY, RULES)
    zh, en = translator("zh-CN"), translator("en")
    with store.transaction(user_id=owner, source="web") as s:
        assert reminders.unread_count(s, owner) == 1
        assert reminders.unread_count(s, head) == 2
        [item] = reminders.inbox(s, owner, zh, TODAY)
        assert item.message == "商户P-3 将在 3 天后（2024-07-04）退回公海，请及时跟进。"
        later = reminders.inbox(s, owner, en, TODAY + dt.timedelta(days=4))[0]
        assert later.message == "商户P-3 returned to the pool on 2024-07-04."
        assert reminders.mark_read(s, owner, [item.id]) == 1
        assert reminders.unread_count(s, owner) == 0
        assert reminders.inbox(s, owner, zh, TODAY, unread_only=True) == []
        assert reminders.mark_read(s, head) == 2


def test_cli_remind_is_idempotent(store, outlet, monkeypatch):
    _prospects(store, outlet)
    monkeypatch.setenv("JIQUN_STORE_URL", store.url)
    get_settings.cache_clear()
    try:
        runs = [CliRunner().invoke(cli_app, ["sales", "remind", "--user", "system", "--date",
                                             TODAY.isoformat()])
                for _ in range(2)]
    finally:
        get_settings.cache_clear()
    assert [r.exit_code for r in runs] == [0, 0], runs[0].output
    assert "3 reminders sent, 0 sent before" in runs[0].output
    assert "0 reminders sent, 3 sent before" in runs[1].output
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Notification)) == 3
