"""The permission registry: its documentation and its answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from jiqun.errors import NotAllowed
from jiqun.permissions import REGISTRY, SYSTEM, Action, Actor, allowed, markdown_table, require
from jiqun.store.models import OrgLevel, Role

DOC = Path(__file__).parents[1] / "docs" / "permissions.md"


def test_the_doc_is_the_registry():
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("| action |"):]
    assert table == markdown_table(), "regenerate docs/permissions.md: jiqun permissions --markdown"


def test_every_action_has_a_rule():
    assert set(REGISTRY) == set(Action)


def actor(role: Role, level: OrgLevel) -> Actor:
    return Actor(1, "someone", role, level, 1)


def test_a_marketer_may_not_set_a_markets_targets_but_a_provincial_manager_may():
    assert not allowed(actor(Role.MARKETER, OrgLevel.OUTLET), Action.TARGET_SET)
    assert allowed(actor(Role.PROVINCIAL_MANAGER, OrgLevel.PROVINCE), Action.TARGET_SET)


def test_the_level_counts_as_well_as_the_role():
    # A city manager decides grids at city level; the same role placed in an outlet does not.
    assert allowed(actor(Role.CITY_MANAGER, OrgLevel.CITY), Action.GRID_APPROVE)
    assert not allowed(actor(Role.CITY_MANAGER, OrgLevel.OUTLET), Action.GRID_APPROVE)


def test_teams_are_decided_by_the_province_not_the_city():
    assert not allowed(actor(Role.CITY_MANAGER, OrgLevel.CITY), Action.TEAM_DECIDE)
    assert allowed(actor(Role.SUPERVISOR, OrgLevel.PROVINCE), Action.TEAM_DECIDE)


def test_require_refuses_with_a_translatable_message():
    with pytest.raises(NotAllowed) as err:
        require(actor(Role.COURIER, OrgLevel.OUTLET), Action.MARKET_EDIT)
    zh = err.value.translated(lambda m, **v: {"Your role may not do this: {action}":
                                              "无权：{action}"}.get(m, m).format(**v))
    assert zh == "无权：Edit a market's details (name, type, tier, place)"


def test_the_system_account_may_take_every_action():
    assert all(allowed(SYSTEM, a) for a in Action)
