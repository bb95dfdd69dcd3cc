"""Market registry (M1): validation, scope, audit, yearly targets spread to months."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from jiqun.i18n import translator
from jiqun.markets import registry
from jiqun.markets.errors import Invalid, NotFound
from jiqun.store.models import AuditEntry, Market, MarketVolumeEstimate, Target, TargetScope
from jiqun.store.scope import ScopeError
from tests.markets.conftest import acting, unit_id

TODAY = dt.date(2024, 6, 15)


def _new(store, **changes):
    data = {"code": "M-NEW", "name": "南浔童装城", "type": "wholesale_market",
            "industry": "童装", "org_unit_id": unit_id(store, "ZJ-HUZ-WX"), **changes}
    return data


def test_every_wrong_field_is_reported_in_chinese_and_english(wstore):
    bad = _new(wstore, code="has space", name="", type="bazaar", lon=200, lat=30,
               yearly_revenue_target=-1, adcode="33")
    with acting(wstore, "hz-city") as s, pytest.raises(Invalid) as caught:
        registry.create_market(s, bad)
    assert set(caught.value.errors) == {"code", "name", "type", "lon",
                                        "yearly_revenue_target", "adcode"}
    zh = caught.value.translated(translator("zh-CN"))
    en = caught.value.translated(translator("en"))
    assert zh["lon"] == "经度应在 73 到 136 之间（中国境内）"
    assert en["lon"] == "Longitude between 73 and 136 (China)"
    assert zh["code"] != en["code"]


def test_longitude_needs_latitude(wstore):
    with acting(wstore, "hz-city") as s, pytest.raises(Invalid) as caught:
        registry.create_market(s, _new(wstore, lon=120.1))
    assert caught.value.errors == {"lon": "Give both longitude and latitude, or neither"}


def test_form_numbers_may_have_thousands_separators():
    data = registry.clean_form({"yearly_revenue_target": " 10,000,000 ", "lon": "",
                                "key_area": "1", "name": " 织里 "})
    assert data == {"yearly_revenue_target": "10000000", "key_area": True, "name": "织里"}
    assert registry.parse_market({**data, "code": "X", "type": "taobao_village",
                                  "industry": "a", "org_unit_id": 1}
                                 ).yearly_revenue_target == 10_000_000


def test_a_code_in_use_anywhere_is_refused_even_outside_the_scope(wstore):
    with acting(wstore, "hz-city") as s, pytest.raises(Invalid) as caught:
        registry.create_market(s, _new(wstore, code="M-XH"))  # Hangzhou's market
    assert caught.value.errors == {"code": "This code is already used by another market"}


def test_a_city_user_cannot_place_a_market_in_another_city(wstore):
    hangzhou_county = unit_id(wstore, "ZJ-HGZ-XH")
    with pytest.raises(Invalid) as caught, acting(wstore, "hz-city") as s:
        registry.create_market(s, _new(wstore, org_unit_id=hangzhou_county))
    assert caught.value.errors == {"org_unit_id": "This org unit is outside your scope"}
    with wstore.session() as s:
        assert s.scalars(select(Market).where(Market.code == "M-NEW")).first() is None


def test_the_scope_mechanism_itself_refuses_the_foreign_write(wstore):
    """The registry relies on the store's one scoping mechanism, not on its own check."""
    with pytest.raises(ScopeError), acting(wstore, "hz-city") as s:
        s.add(Market(code="M-RAW", name="x", type="wholesale_market", industry="x",
                     org_unit_id=unit_id(wstore, "ZJ-HGZ-XH")))
        s.flush()


def test_a_foreign_market_cannot_be_edited(wstore, world):
    with acting(wstore, "hz-city") as s, pytest.raises(NotFound):
        registry.edit_market(s, world.ids["xihu"], {"name": "改名"})
    with pytest.raises(Invalid) as caught, acting(wstore, "hz-city") as s:
        registry.edit_market(s, world.ids["zhili"], {"org_unit_id": unit_id(wstore, "ZJ-HGZ")})
    assert caught.value.errors == {"org_unit_id": "This org unit is outside your scope"}


def test_create_writes_market_targets_estimate_and_audit(wstore, world):
    with acting(wstore, "hz-city") as s:
        market = registry.create_market(s, _new(
            wstore, tier="A", key_area=True, yearly_revenue_target=12_000_000,
            yearly_volume_target=3_650_000, market_daily_volume=8000, target_year=2024,
            lon=120.08, lat=30.9), today=TODAY)
        market_id = market.id
    with wstore.session() as s:
        targets = s.scalars(select(Target).where(Target.scope_type == TargetScope.MARKET,
                                                 Target.scope_id == market_id)
                            .order_by(Target.month)).all()
        assert [t.month for t in targets] == [dt.date(2024, m, 1) for m in range(1, 13)]
        assert {t.revenue for t in targets} == {1_000_000}
        assert sum(t.volume for t in targets) == pytest.approx(3_650_000)
        estimate = s.scalars(select(MarketVolumeEstimate)
                             .where(MarketVolumeEstimate.market_id == market_id)).one()
        assert (estimate.carrier, estimate.valid_from, estimate.daily_volume) == \
            ("*", TODAY, 8000)
        # Inserts are logged with the row's values (their id among them).
        audit = [a for a in s.scalars(select(AuditEntry).where(AuditEntry.entity == "markets"))
                 if a.changes.get("id") == market_id]
        assert len(audit) == 1
        audit = audit[0]
        assert audit.action == "insert"
        assert audit.user_id == world.ids["hz-city"] and audit.source == "test"
        assert audit.changes["name"] == "南浔童装城" and audit.changes["key_area"] is True
        assert s.query(AuditEntry).filter(AuditEntry.entity == "targets").count() == 12


def test_edit_changes_only_what_was_given_and_keeps_seasonal_months(wstore, world):
    zhili = world.ids["zhili"]
    with acting(wstore, "hz-city") as s:
        registry.edit_market(s, zhili, {"yearly_revenue_target": 12_000_000,
                                        "target_year": 2024})
    with wstore.transaction() as s:  # a seasonal plan imported for June
        june = s.scalars(select(Target).where(Target.scope_id == zhili,
                                              Target.month == dt.date(2024, 6, 1))).one()
        june.revenue = 2_000_000
    with acting(wstore, "hz-city") as s:
        market = registry.edit_market(s, zhili, {"name": "织里童装城", "target_year": 2024})
        assert (market.name, market.industry, market.tier) == ("织里童装城", "童装", "A")
    with wstore.session() as s:
        june = s.scalars(select(Target).where(Target.scope_id == zhili,
                                              Target.month == dt.date(2024, 6, 1))).one()
        assert june.revenue == 2_000_000  # the name change kept it
        change = s.scalars(select(AuditEntry).where(AuditEntry.entity == "markets",
                                                    AuditEntry.action == "update")
                           .order_by(AuditEntry.id.desc())).first()
        assert change.changes == {"name": ["织里童装产业带", "织里童装城"]}
    with acting(wstore, "hz-city") as s:
        registry.edit_market(s, zhili, {"yearly_revenue_target": 6_000_000,
                                        "target_year": 2024})
    with wstore.session() as s:
        months = s.scalars(select(Target.revenue).where(
            Target.scope_type == TargetScope.MARKET, Target.scope_id == zhili)).all()
        assert months == [500_000] * 12


def test_market_units_are_the_scopes_cities_counties_and_outlets(wstore):
    with acting(wstore, "hz-city") as s:
        codes = [u.code for u in registry.market_units(s)]
    assert codes == ["ZJ-HUZ", "ZJ-HUZ-WX", "ZJ-HUZ-WX-ZL"]
