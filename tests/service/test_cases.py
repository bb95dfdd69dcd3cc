"""The service queue on a hand-made world: grouping, the owner rule, deadlines in working hours,
the warning at 75 %, escalation on a breach, the pause, idempotence, scope and permissions."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from jiqun.errors import Conflict, Invalid, NotAllowed, NotFound
from jiqun.i18n import translator
from jiqun.sales import reminders
from jiqun.service import cases
from jiqun.service.rules import ServiceRules
from jiqun.store.models import (
    CaseEvent,
    CaseStatus,
    ExceptionKind,
    Notification,
    ParcelException,
    ServiceCase,
)
from tests.service.cases_world import TUESDAY_5PM, build_world

D = dt.datetime
RULES = ServiceRules()  # late: first response 2 h, resolution 9 h; warning at 75 %
K = ExceptionKind


@pytest.fixture
def world(store):
    return build_world(store)


def _open(store, as_of=TUESDAY_5PM, **kwargs) -> dict:
    with store.transaction() as s:
        return cases.open_cases(s, as_of, RULES, **kwargs)


def _check(store, now) -> dict:
    with store.transaction() as s:
        return cases.check_deadlines(s, now, RULES)


def _cases(store) -> dict[str, ServiceCase]:
    with store.session() as s:
        rows = s.scalars(select(ServiceCase).order_by(ServiceCase.id)).all()
        s.expunge_all()
        return {c.group_key: c for c in rows}


def _as(world, user: str):
    return world.store.transaction(actor=world.store.actor(user), source="web")


def test_exceptions_of_a_customer_and_of_a_bag_become_one_case_each(world):
    z1, z2 = world.customers["Z1"], world.customers["Z2"]
    world.exception("Z1", K.LATE)
    world.exception("Z1", K.STALLED)
    world.exception("Z1", K.LOST, bag="F1>410100@2026-11-24T14")
    world.exception("Z2", K.LATE, bag="F1>410100@2026-11-24T14")
    world.exception("Z2", K.RETURNED, bag="F9>110100@2026-11-24T09")  # alone in its bag
    world.exception(None, K.MISSING_SCAN, unit=world.org.zhili_outlet.id)
    assert _open(world.store) == {"exceptions": 6, "opened": 4, "joined": 0}
    found = _cases(world.store)
    assert set(found) == {f"customer:{z1}", f"customer:{z2}", "bag:F1>410100@2026-11-24T14",
                          "waybill:9800000006"}
    bag = found["bag:F1>410100@2026-11-24T14"]
    assert bag.kind == K.LOST  # the most urgent kind of its exceptions
    assert bag.customer_id is None  # two merchants' parcels travelled together
    assert bag.org_unit_id == world.org.zhili_outlet.id
    # late and stalled are equally urgent: the first in the model's order
    assert found[f"customer:{z1}"].kind == K.STALLED
    assert found[f"customer:{z2}"].kind == K.RETURNED
    with world.store.session() as s:
        assert s.scalar(select(ParcelException.id).where(ParcelException.case_id.is_(None))) \
            is None
    codes = [c.code for c in found.values()]
    assert sorted(codes) == ["SC-261124-0001", "SC-261124-0002", "SC-261124-0003",
                             "SC-261124-0004"]


def test_running_again_opens_nothing_and_new_exceptions_join_the_open_case(world):
    world.exception("Z1")
    world.exception("Z1", bag="B1")
    world.exception("Z2", bag="B1")
    assert _open(world.store)["opened"] == 2
    assert _open(world.store) == {"exceptions": 0, "opened": 0, "joined": 0}
    world.exception("Z1", K.LOST, detected_at=TUESDAY_5PM + dt.timedelta(hours=1))
    world.exception("Z3", bag="B1", detected_at=TUESDAY_5PM + dt.timedelta(hours=1))
    assert _open(world.store, TUESDAY_5PM + dt.timedelta(hours=2)) == {
        "exceptions": 2, "opened": 0, "joined": 2}
    with world.store.session() as s:
        assert s.scalar(select(ServiceCase.id).where(ServiceCase.group_key == "bag:B1")) == \
            s.scalar(select(ParcelException.case_id).where(
                ParcelException.customer_id == world.customers["Z3"]))
    # a resolved case does not take new exceptions: the merchant's next trouble is a new case
    z1 = _cases(world.store)[f"customer:{world.customers['Z1']}"]
    with world.store.transaction() as s:
        cases.resolve(s, z1.id, "已妥投", at=TUESDAY_5PM + dt.timedelta(hours=3))
    world.exception("Z1", detected_at=TUESDAY_5PM + dt.timedelta(hours=4))
    assert _open(world.store, TUESDAY_5PM + dt.timedelta(hours=4))["opened"] == 1


def test_exceptions_found_later_wait_and_cleared_ones_never_open(world):
    world.exception("Z1", detected_at=TUESDAY_5PM + dt.timedelta(days=1))
    cleared = world.exception("Z2")
    with world.store.transaction() as s:
        s.get(ParcelException, cleared).cleared_at = TUESDAY_5PM
    assert _open(world.store)["opened"] == 0


def test_the_owner_is_the_least_loaded_agent_of_the_customers_city(world):
    u = world.users
    for code in ("Z1", "Z2", "Z3"):
        world.exception(code)
    world.exception("X1")
    _open(world.store)
    owners = {k: c.owner_id for k, c in _cases(world.store).items()}
    c = world.customers
    # no load at first: the lowest id; then the other; then the first again
    assert owners[f"customer:{c['Z1']}"] == u["hz-cs1"]
    assert owners[f"customer:{c['Z2']}"] == u["hz-cs2"]
    assert owners[f"customer:{c['Z3']}"] == u["hz-cs1"]
    assert owners[f"customer:{c['X1']}"] == u["hgz-cs1"]  # Hangzhou's own agent
    # cs1 holds two open cases, cs2 one: the next case goes to cs2
    world.exception("Z1", bag="B7")
    world.exception("Z2", bag="B7")
    _open(world.store)
    assert _cases(world.store)["bag:B7"].owner_id == u["hz-cs2"]


def test_deadlines_are_working_hours_from_the_opening(world):
    world.exception("Z1", K.LATE)
    world.exception("Z2", K.LOST)
    _open(world.store)
    found = _cases(world.store)
    late = found[f"customer:{world.customers['Z1']}"]
    # Tuesday 17:00 + 2 h → Wednesday 09:30; + 9 h → Wednesday 16:30 (1 h + 8 h)
    assert (late.first_response_due, late.resolve_due) == (D(2026, 11, 25, 9, 30),
                                                           D(2026, 11, 25, 16, 30))
    lost = found[f"customer:{world.customers['Z2']}"]
    # lost: 1 h → Tuesday 18:00; 27 h → 1 + 9.5 (Wed) + 9.5 (Thu) + 7 (Fri 08:30–15:30)
    assert (lost.first_response_due, lost.resolve_due) == (D(2026, 11, 24, 18, 0),
                                                           D(2026, 11, 27, 15, 30))


def _events(store, case_id) -> list[tuple[str, str | None]]:
    with store.session() as s:
        return list(s.execute(select(CaseEvent.kind, CaseEvent.template).where(
            CaseEvent.case_id == case_id).order_by(CaseEvent.id)).all())


def _notes(store) -> list[tuple[int, str, dt.date]]:
    with store.session() as s:
        return sorted(s.execute(select(Notification.user_id, Notification.kind,
                                       Notification.due_on)).all())


def test_warning_at_75_percent_then_escalation_on_breach_once_each(world):
    world.exception("Z1", K.LATE)
    _open(world.store)
    case = _cases(world.store)[f"customer:{world.customers['Z1']}"]
    u = world.users
    # 2 h to respond from Tue 17:00: 75 % used at Wed 09:00 (1 h Tue + 0.5 h Wed)
    assert _check(world.store, D(2026, 11, 25, 8, 59))["warned"] == 0
    assert _check(world.store, D(2026, 11, 25, 9, 0)) == {"checked": 1, "warned": 1,
                                                           "escalated": 0}
    assert _check(world.store, D(2026, 11, 25, 9, 10))["warned"] == 0
    assert _notes(world.store) == [(u["hz-cs1"], "case_warning", dt.date(2026, 11, 25))]
    # the first response is missed at 09:30: escalated to the city manager, once
    assert _check(world.store, D(2026, 11, 25, 9, 30))["escalated"] == 1
    assert _check(world.store, D(2026, 11, 25, 9, 45))["escalated"] == 0
    now = _cases(world.store)[case.group_key]
    assert now.escalated_at == D(2026, 11, 25, 9, 30)
    assert now.escalated_to_id == u["hz-manager"]
    assert (u["hz-manager"], "case_breach", dt.date(2026, 11, 25)) in _notes(world.store)
    # the resolution deadline (Wed 16:30) warns at 75 % of 9 h (2.25 h left: 14:15) and breaches
    assert _check(world.store, D(2026, 11, 25, 14, 15))["warned"] == 1
    assert _check(world.store, D(2026, 11, 25, 16, 30))["escalated"] == 1
    assert _events(world.store, case.id) == [
        ("open", None), ("warn", "response"), ("escalate", "response"), ("warn", "resolve"),
        ("escalate", "resolve")]
    # the inbox says so in the reader's language
    with _as(world, "hz-manager") as s:
        [item, *_] = reminders.inbox(s, u["hz-manager"], translator("en"), dt.date(2026, 11, 25))
        assert item.message == ("Case SC-261124-0001 of 商户Z1 (hz-cs1) missed its deadline "
                                "of 2026-11-25.")


def test_a_contact_answers_the_first_response_deadline(world):
    world.exception("Z1", K.LATE, reason="held_at_hub")
    _open(world.store)
    case = _cases(world.store)[f"customer:{world.customers['Z1']}"]
    with _as(world, "hz-cs1") as s:
        detail = cases.case_detail(s, case.id, D(2026, 11, 25, 8, 45))
        message = detail.messages[detail.default_template]
        assert detail.default_template == "delay"
        assert "商户Z1" in message and "9800000001" in message and "湖州市分公司" in message
        assert "hz-cs1" in message  # the agent signs
        cases.log_contact(s, case.id, "phone", "delay", message, version=case.version,
                          at=D(2026, 11, 25, 8, 45))
    assert _cases(world.store)[case.group_key].first_response_at == D(2026, 11, 25, 8, 45)
    # no warning nor breach of the first response any more; the resolution's clock goes on
    assert _check(world.store, D(2026, 11, 25, 10, 0)) == {"checked": 1, "warned": 0,
                                                            "escalated": 0}


def test_waiting_pauses_the_clock(world):
    world.exception("Z1", K.LATE)
    _open(world.store)
    case = _cases(world.store)[f"customer:{world.customers['Z1']}"]
    with world.store.transaction() as s:
        cases.wait(s, case.id, "等商家确认地址", at=D(2026, 11, 25, 9, 0))  # 0.5 h left
    # waiting: however late, neither warned nor escalated, and not breached
    assert _check(world.store, D(2026, 11, 27, 12, 0)) == {"checked": 0, "warned": 0,
                                                            "escalated": 0}
    with world.store.session() as s:
        [row] = cases.case_rows(s, D(2026, 11, 27, 12, 0), rules=RULES)
        assert (row.status, row.breached, row.hours_left) == ("waiting", False, 0.5)
    with world.store.transaction() as s:
        cases.resume(s, case.id, at=D(2026, 11, 26, 14, 0), rules=RULES)
    moved = _cases(world.store)[case.group_key]
    assert moved.status == CaseStatus.OPEN and moved.waiting_since is None
    assert moved.first_response_due == D(2026, 11, 26, 14, 30)
    # resolution: 7.5 h were left at Wed 09:00 (to 16:30) → Thu 14:00 + 7.5 h = Fri 12:00
    assert moved.resolve_due == D(2026, 11, 27, 12, 0)
    assert [k for k, _ in _events(world.store, case.id)] == ["open", "wait", "resume"]


def test_a_stale_form_is_a_conflict_and_a_resolved_case_is_closed(world):
    world.exception("Z1")
    _open(world.store)
    case = _cases(world.store)[f"customer:{world.customers['Z1']}"]
    with world.store.transaction() as s:
        cases.add_note(s, case.id, "已联系网点", version=case.version)
    with pytest.raises(Conflict), world.store.transaction() as s:
        cases.resolve(s, case.id, "已妥投", version=case.version)  # the version before the note
    with world.store.transaction() as s:
        cases.resolve(s, case.id, "已妥投")
    with pytest.raises(Conflict), world.store.transaction() as s:
        cases.log_contact(s, case.id, "sms", None, "您好")
    with pytest.raises(Conflict), world.store.transaction() as s:
        cases.wait(s, case.id)


def test_bad_input_is_invalid(world):
    world.exception("Z1")
    _open(world.store)
    case = _cases(world.store)[f"customer:{world.customers['Z1']}"]
    with pytest.raises(Invalid) as err, world.store.transaction() as s:
        cases.log_contact(s, case.id, "fax", "nope", "  ")
    assert set(err.value.errors) == {"channel", "template", "message"}
    with pytest.raises(Invalid), world.store.transaction() as s:
        cases.assign(s, case.id, world.users["hgz-cs1"])  # Hangzhou does not see Zhili
    with pytest.raises(Invalid), world.store.transaction() as s:
        cases.assign(s, case.id, world.users["zl-marketer"])  # a marketer does not work cases
    with world.store.transaction() as s:
        cases.assign(s, case.id, world.users["hz-cs2"])
    assert _cases(world.store)[case.group_key].owner_id == world.users["hz-cs2"]


def test_scope_and_permissions(world):
    world.exception("Z1")
    world.exception("X1")
    _open(world.store)
    zhili = _cases(world.store)[f"customer:{world.customers['Z1']}"]
    now = D(2026, 11, 25, 9, 0)
    with _as(world, "hgz-cs1") as s:  # Hangzhou sees Hangzhou's case only
        assert [r.customer for r in cases.case_rows(s, now, rules=RULES)] == ["商户X1"]
        with pytest.raises(NotFound):
            cases.log_contact(s, zhili.id, "phone", None, "您好")
    with _as(world, "hz-cs1") as s:
        rows = cases.case_rows(s, now, me=world.users["hz-cs1"], rules=RULES)
        assert [(r.customer, r.mine) for r in rows] == [("商户Z1", True)]
    with pytest.raises(NotAllowed), _as(world, "zl-marketer") as s:
        cases.log_contact(s, zhili.id, "phone", None, "您好")
    with pytest.raises(NotAllowed), _as(world, "zl-am") as s:  # may work, may not reassign
        cases.assign(s, zhili.id, world.users["hz-cs2"])
    with pytest.raises(NotAllowed), _as(world, "zl-am") as s:
        cases.open_cases(s, now, RULES)
    with _as(world, "zl-am") as s:  # an account manager works the case of their merchant
        cases.add_note(s, zhili.id, "商家已知悉")


def test_city_summary_counts_ageing_and_breach_rate(world):
    world.exception("Z1", K.LATE)
    world.exception("Z2", K.LOST)
    world.exception("X1", K.LATE)
    _open(world.store)
    found = _cases(world.store)
    with world.store.transaction() as s:  # Z1 answered in time and resolved
        z1 = found[f"customer:{world.customers['Z1']}"]
        cases.log_contact(s, z1.id, "phone", None, "您好", at=D(2026, 11, 25, 9, 0))
        cases.resolve(s, z1.id, "已妥投", at=D(2026, 11, 25, 10, 0))
    as_of = D(2026, 11, 25, 12, 0)  # 19 h after the opening; lost Z2 missed its first response
    with world.store.session() as s:
        summary = {c.city_code: c for c in cases.city_summary(s, as_of, RULES)}
    hz, hgz = summary["ZJ-HUZ"], summary["ZJ-HGZ"]
    assert (hz.open, hz.breached_open, hz.opened, hz.breached, hz.breach_rate) == (1, 1, 2, 1,
                                                                                   0.5)
    assert hz.ageing == [0, 1, 0, 0]  # 19 h: the 4–24 h bucket
    assert (hgz.open, hgz.breached, hgz.breach_rate) == (1, 1, 1.0)  # X1 due Wed 09:30
    assert cases.ageing_labels(RULES) == ["0–4 h", "4–24 h", "24–72 h", ">72 h"]
