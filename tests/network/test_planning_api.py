"""The planning API (/api/flows, /api/lines, /api/lines/accept, /api/hubs) and the what-if
controls of the pages, on the demo province: scoped, idempotent, audited."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jiqun.config import Settings
from jiqun.store.models import (
    AuditEntry,
    DedicatedLine,
    Facility,
    FacilityKind,
    Market,
    OrgUnit,
)
from jiqun.store.org import unit_by_code
from jiqun.web.app import create_app
from tests.network.demo_province import demo_province

PASSWORD = "jiqun-demo"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def app():
    demo = demo_province()
    path = demo.root / "planning.toml"
    path.write_text(demo.params.to_toml(), encoding="utf-8")
    settings = Settings(store_url=f"sqlite:///{demo.root}/store.db", lake_path=demo.lake,
                        environment="test", planning_file=path)
    return create_app(settings)


@pytest.fixture(scope="module")
def api(app):
    """A client with the bearer tokens of the city and the HQ demo users."""
    with TestClient(app) as c:
        c.tokens = {}
        for user in ("demo-city", "demo-hq", "demo-province"):
            r = c.post("/api/token", data={"username": user, "password": PASSWORD})
            assert r.status_code == 200, r.text
            c.tokens[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        yield c


@pytest.fixture(scope="module")
def page(app):
    """A browser-like client signed in as the city user (cookie + CSRF)."""
    with TestClient(app) as c:
        token = CSRF.search(c.get("/login").text).group(1)
        r = c.post("/login", data={"username": "demo-city", "password": PASSWORD,
                                   "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303
        yield c


def _city_market_ids() -> set[int]:
    demo = demo_province()
    with demo.store.session() as s:
        city = unit_by_code(s, "HA-SQ")
        return set(s.scalars(select(Market.id).join(OrgUnit, OrgUnit.id == Market.org_unit_id)
                             .where(OrgUnit.path.startswith(city.path))))


def _lines_count(code: str) -> int:
    with demo_province().store.session() as s:
        return s.scalar(select(func.count()).select_from(DedicatedLine)
                        .where(DedicatedLine.code == code))


def test_openapi_lists_the_planning_api(api):
    paths = api.get("/openapi.json").json()["paths"]
    for path, method in (("/api/flows", "get"), ("/api/lines", "get"),
                         ("/api/lines/accept", "post"), ("/api/hubs", "get"),
                         ("/api/lines/registry", "get"), ("/api/lines/{line_id}/approve", "post"),
                         ("/api/lines/{line_id}/open", "post"),
                         ("/api/lines/{line_id}/close", "post")):
        assert paths[path][method]["tags"] == ["planning"], path
    hub_params = {p["name"] for p in paths["/api/hubs"]["get"]["parameters"]}
    assert {"model", "p", "radius", "capacity", "site", "closable"} <= hub_params


def test_flows_are_scoped_to_the_users_subtree(api):
    city = api.get("/api/flows?limit=10000", headers=api.tokens["demo-city"]).json()
    hq = api.get("/api/flows?limit=10000", headers=api.tokens["demo-hq"]).json()
    own = _city_market_ids()
    assert city["total"] == len(city["flows"]) > 0
    assert {f["origin_id"] for f in city["flows"]} <= own
    assert {f["origin_id"] for f in hq["flows"]} - own, "HQ sees other cities' lanes"
    assert city["total"] < hq["total"]
    assert {"618", "Double 11"} <= {p["name"] for p in city["peaks"]}
    # Every lane of the city has the same parcels in the HQ's answer.
    by_lane = {(f["origin_id"], f["dest_code"]): f["parcels"] for f in hq["flows"]}
    assert all(by_lane[(f["origin_id"], f["dest_code"])] == f["parcels"] for f in city["flows"])


def test_flow_filters_match_the_page(api, page):
    h = api.tokens["demo-city"]
    everything = api.get("/api/flows?limit=10000", headers=h).json()
    express = api.get("/api/flows?product=express&limit=10000", headers=h).json()
    assert express["flows"] and {f["product"] for f in express["flows"]} == {"express"}
    assert sum(f["parcels"] for f in express["flows"]) < sum(
        f["parcels"] for f in everything["flows"])
    monthly = api.get("/api/flows?period=month&to=province&limit=10000", headers=h).json()
    assert all(f["period"] is not None and f["dest_code"].endswith("0000")
               for f in monthly["flows"])
    assert sum(f["parcels"] for f in monthly["flows"]) == sum(
        f["parcels"] for f in everything["flows"])
    outlets = api.get("/api/flows?by=outlet&limit=10000", headers=h).json()
    assert sum(f["parcels"] for f in outlets["flows"]) > 0
    html = page.get("/flows?product=express").text
    assert f"({express['total']:,})" in html
    assert page.get("/flows?period=month").status_code == 200


def test_lines_api_gives_each_proposal_its_economics(api):
    lines = api.get("/api/lines", headers=api.tokens["demo-city"]).json()
    assert lines["as_of"] and lines["lanes"] and lines["pools"]
    own = _city_market_ids()
    for lane in lines["lanes"]:
        assert lane["origin_id"] in own and lane["proposed"]
        assert lane["saving_per_year"] == max(lane["saving_all_year"], lane["saving_peak_only"])
        assert lane["break_even"] > 0 and lane["reasons"]
    assert {"广州市", "南京市"} <= {lane["dest"] for lane in lines["lanes"]}
    for pool in lines["pools"]:
        assert len(pool["members"]) == len(pool["member_ids"]) >= 2
        assert pool["gap"] <= 1e-6 and pool["bound"] <= pool["cost_per_day"] + 1e-6
        assert pool["point_id"] is not None and pool["truck"]
    everything = api.get("/api/lines?show=all", headers=api.tokens["demo-city"]).json()
    assert len(everything["lanes"]) > len(lines["lanes"])
    assert any(lane["decision"] == "not_yet" for lane in everything["lanes"])


def test_accepting_an_outlet_lane_twice_records_one_audited_draft(api):
    h = api.tokens["demo-city"]
    lane = api.get("/api/lines?by=outlet", headers=h).json()["lanes"][0]
    body = {"kind": "lane", "by": "outlet", "origin_id": lane["origin_id"],
            "dest_code": lane["dest_code"]}
    first = api.post("/api/lines/accept", json=body, headers=h)
    assert first.status_code == 201, first.text
    line = first.json()
    assert line["created"] and line["status"] == "draft"
    assert line["origin_facility_id"] == lane["origin_id"] and line["origin_market_id"] is None
    assert line["proposal"]["kind"] == "lane"
    assert line["proposal"]["break_even"] == lane["break_even"]
    assert line["proposal"]["saving_per_year"] == lane["saving_per_year"]
    assert line["truck_type"] == lane["truck"]
    again = api.post("/api/lines/accept", json=body, headers=h)
    assert again.status_code == 200 and again.json()["id"] == line["id"]
    assert not again.json()["created"]
    assert _lines_count(line["code"]) == 1
    with demo_province().store.session() as s:
        inserts = s.scalars(select(AuditEntry).where(
            AuditEntry.entity == "dedicated_lines", AuditEntry.action == "insert",
            AuditEntry.source == "api")).all()
        assert [a.changes["code"] for a in inserts].count(line["code"]) == 1
    relisted = api.get("/api/lines?by=outlet", headers=h).json()["lanes"]
    assert next(x for x in relisted if x["origin_id"] == lane["origin_id"]
                and x["dest_code"] == lane["dest_code"])["existing_line"] == "draft"


def test_accepting_a_pooled_line_stores_its_members_and_solve(api):
    h = api.tokens["demo-city"]
    pools = api.get("/api/lines", headers=h).json()["pools"]
    # A pool through a point that already runs a line to that city feeds that line instead.
    fed = [p for p in pools if p["line_code"] and p["line_code"].startswith("L-YC-")]
    assert fed and all(p["existing_line"] == "active" and not p["offered"] for p in fed)
    pool = next(p for p in pools if p["offered"] or p["existing_line"] == "draft")
    body = {"kind": "pooled", "by": "market", "point_kind": pool["point_kind"],
            "point_id": pool["point_id"], "dest_code": pool["dest_code"]}
    r = api.post("/api/lines/accept", json=body, headers=h)
    assert r.status_code in (200, 201), r.text
    line = r.json()
    assert line["code"].startswith("PL-") and line["dest_adcode"] == pool["dest_code"]
    assert line["proposal"]["kind"] == "pooled"
    assert line["proposal"]["members"] == pool["members"]
    assert line["proposal"]["saving_per_year"] == pool["saving_per_year"]
    assert line["trips_per_day"] == pool["trucks_per_day"]
    assert api.post("/api/lines/accept", json=body, headers=h).json()["id"] == line["id"]
    assert _lines_count(line["code"]) == 1
    after = api.get("/api/lines", headers=h).json()["pools"]
    assert next(p for p in after if p["point_id"] == pool["point_id"]
                and p["dest_code"] == pool["dest_code"])["existing_line"] == "draft"


def test_a_foreign_units_line_cannot_be_accepted(api):
    own = _city_market_ids()
    foreign = [lane for lane in api.get("/api/lines", headers=api.tokens["demo-hq"]).json()
               ["lanes"] if lane["origin_id"] not in own]
    assert foreign, "the HQ plans lanes outside 商丘"
    lane = foreign[0]
    with demo_province().store.session() as s:
        before = s.scalar(select(func.count()).select_from(DedicatedLine))
    r = api.post("/api/lines/accept", headers=api.tokens["demo-city"],
                 json={"origin_id": lane["origin_id"], "dest_code": lane["dest_code"]})
    assert r.status_code == 404
    pooled = api.post("/api/lines/accept", headers=api.tokens["demo-city"], json={
        "kind": "pooled", "point_kind": "consolidation_centre", "point_id": _foreign_centre(),
        "dest_code": "440100"})
    assert pooled.status_code == 404
    with demo_province().store.session() as s:
        assert s.scalar(select(func.count()).select_from(DedicatedLine)) == before


def _foreign_centre() -> int:
    with demo_province().store.session() as s:
        return s.scalar(select(Facility.id).where(
            Facility.kind == FacilityKind.CONSOLIDATION_CENTRE, Facility.code == "F-GD-JB"))


def test_accept_by_cookie_needs_the_csrf_token(page):
    r = page.post("/api/lines/accept", json={"origin_id": 1, "dest_code": "440100"})
    assert r.status_code == 403


def test_lines_page_offers_accept_for_outlet_lanes_and_pooled_lines(page):
    html = page.get("/lines?by=outlet").text
    assert 'name="by" value="outlet"' in html and 'name="kind" value="lane"' in html
    assert 'name="kind" value="pooled"' in html
    token = CSRF.search(html).group(1)
    m = re.search(r'name="point_kind" value="(\w+)"><input type="hidden" name="point_id" '
                  r'value="(\d+)">\s*<input type="hidden" name="dest_code" value="(\d+)"', html)
    r = page.post("/lines/accept", data={"kind": "pooled", "by": "outlet", "point_kind": m[1],
                                         "point_id": m[2], "dest_code": m[3],
                                         "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and "accepted=PL-" in r.headers["location"]
    code = r.headers["location"].split("accepted=")[1]
    assert _lines_count(code) == 1
    with demo_province().store.session() as s:
        line = s.scalar(select(DedicatedLine).where(DedicatedLine.code == code))
        assert line.origin_facility_id == int(m[2]) and line.proposal["kind"] == "pooled"


def _existing_centres() -> list[str]:
    with demo_province().store.session() as s:
        city = unit_by_code(s, "HA-SQ")
        return sorted(s.scalars(select(Facility.code).join(
            OrgUnit, OrgUnit.id == Facility.org_unit_id).where(
            Facility.kind == FacilityKind.CONSOLIDATION_CENTRE,
            OrgUnit.path.startswith(city.path))))


def test_hubs_api_keeps_existing_centres_unless_they_may_close(api):
    h = api.tokens["demo-city"]
    existing = _existing_centres()
    assert len(existing) == 2
    kept = api.get("/api/hubs?model=pmedian&p=2", headers=h).json()
    assert {c["code"] for c in kept["centres"]} == set(existing)
    assert kept["status"] == "optimal" and kept["gap"] == pytest.approx(0, abs=1e-6)
    assert kept["bound"] == pytest.approx(kept["objective"], rel=1e-6)
    assert sum(c["parcels_per_day"] for c in kept["centres"]) == pytest.approx(
        kept["coverage"]["parcels_per_day"], abs=0.05)
    assert sum(c["merchants"] for c in kept["centres"]) == kept["coverage"]["merchants"]
    free = api.get("/api/hubs?model=pmedian&p=2&" + "&".join(
        f"closable={c}" for c in existing), headers=h).json()
    assert free["objective"] <= kept["objective"] + 1e-6  # a looser model is never worse
    assert {s["code"] for s in free["sites"] if s["closable"]} == set(existing)
    # Set covering honours the kept centres too: they are among the chosen.
    cover = api.get("/api/hubs?model=cover", headers=h).json()
    assert set(existing) <= {c["code"] for c in cover["centres"]}
    assert cover["coverage"]["covered_share"] == pytest.approx(1.0)


def test_hubs_api_with_an_added_site(api):
    h = api.tokens["demo-city"]
    existing = _existing_centres()
    closable = "&".join(f"closable={c}" for c in existing)
    base = api.get(f"/api/hubs?model=pmedian&p=1&{closable}", headers=h).json()
    best = max(base["centres"], key=lambda c: c["parcels_per_day"])
    # A site placed exactly on the best centre, and one far away: the optimum cannot worsen.
    q = (f"/api/hubs?model=pmedian&p=1&{closable}&site=新点,{best['lon']},{best['lat']}"
         f"&site=远点,116.9,34.0")
    added = api.get(q, headers=h).json()
    assert {s["name"] for s in added["sites"] if s["kind"] == "added"} == {"新点", "远点"}
    assert added["objective"] == pytest.approx(base["objective"], rel=1e-6)
    assert added["centres"][0]["site"] in (best["site"], "新点")
    bad = api.get("/api/hubs?model=pmedian&p=1&site=nowhere,0,0", headers=h).json()
    assert bad["errors"] and not any(s["kind"] == "added" for s in bad["sites"])
    assert api.get("/api/hubs?model=nope", headers=h).status_code == 422


def test_hubs_page_what_if_with_an_added_site(page):
    existing = _existing_centres()
    r = page.get(f"/hubs?model=mclp&p=3&radius=20&closable={existing[0]}"
                 "&site_name=试点&site_lon=115.7&site_lat=34.3", headers={"HX-Request": "true"})
    assert r.status_code == 200
    html = r.text
    assert html.lstrip().startswith('<div id="hubs-result">')
    assert 'name="site" value="试点,115.7,34.3" checked' in html  # kept for the next solve
    assert f'name="closable" value="{existing[0]}" checked' in html
    assert f'name="closable" value="{existing[1]}" >' in html
    assert "下界" in html and "间隙" in html  # bound and gap always shown
    data = json.loads(re.search(r'id="hub-map-data">(.*?)</script>', html, re.S).group(1))
    assert data["added"] == [{"name": "试点", "lon": 115.7, "lat": 34.3}]
    assert data["radius_km"] > 0 and len(data["centres"]) == 3
    full = page.get("/hubs?site=试点,115.7,34.3&site_lon=200&site_lat=1&site_name=x")
    assert full.status_code == 200 and 'data-testid="hub-errors"' in full.text
    assert 'value="试点,115.7,34.3" checked' in full.text
    assert 'option value="稍岗五金工量具产业集群,' in full.text  # places to pick from


@pytest.mark.parametrize("query", ["model=pmedian&p=73", "model=mclp&p=73"])
def test_more_centres_than_candidate_sites_is_a_422_with_a_message(api, page, query):
    """Reproduction of issue 9: GET /api/hubs?model=pmedian&p=73 answered 500."""
    r = api.get(f"/api/hubs?{query}", headers=api.tokens["demo-city"])
    assert r.status_code == 422 and r.json()["detail"] == "中心数多于候选站点数"
    shown = page.get(f"/hubs?{query}")
    assert shown.status_code == 200 and "中心数多于候选站点数" in shown.text


@pytest.mark.parametrize("query", ["model=x", "p=0", "p=10000000000000000000", "p=²",
                                   "radius=nan", "radius=-1", "capacity=inf",
                                   "capacity=1e400"])
def test_bad_hub_parameters_are_422(api, query):
    assert api.get(f"/api/hubs?{query}", headers=api.tokens["demo-city"]).status_code == 422


def test_a_tiny_capacity_never_answers_500(api):
    r = api.get("/api/hubs?model=cflp&capacity=0.5", headers=api.tokens["demo-city"])
    assert r.status_code in (200, 422), r.text


@pytest.mark.parametrize("query", ["product=x", "start=0001-01-02", "end=2101-01-01",
                                   "limit=0", "by=city", "period=year"])
def test_bad_flow_parameters_are_422(api, query):
    assert api.get(f"/api/flows?{query}", headers=api.tokens["demo-city"]).status_code == 422


def test_a_marketer_may_not_accept_a_line(app):
    with TestClient(app) as c:
        r = c.post("/api/token", data={"username": "demo-marketer", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        with demo_province().store.session() as s:
            before = s.scalar(select(func.count()).select_from(DedicatedLine))
        refused = c.post("/api/lines/accept", headers=headers,
                         json={"origin_id": 1, "dest_code": "440100"})
        assert refused.status_code == 403
        assert c.post("/api/lines/accept", headers=headers,
                      json={"origin_id": "x"}).status_code == 403  # before the body is read
        token = CSRF.search(c.get("/login").text).group(1)
        c.post("/login", data={"username": "demo-marketer", "password": PASSWORD,
                               "csrf_token": token}, follow_redirects=False)
        page = c.get("/lines")
        assert page.status_code == 200 and 'action="/lines/accept"' not in page.text
        token = CSRF.search(page.text).group(1)
        form = c.post("/lines/accept", data={"origin_id": 1, "dest_code": "440100",
                                             "csrf_token": token}, follow_redirects=False)
        assert form.status_code == 403
        with demo_province().store.session() as s:
            assert s.scalar(select(func.count()).select_from(DedicatedLine)) == before


def test_every_network_api_route_has_a_response_model():
    from jiqun.web.routes.network import router

    network = [r for r in router.routes if r.path.startswith("/api")]
    assert len(network) >= 8
    assert [r.path for r in network if r.response_model is None] == []
    assert all(r.tags == ["planning"] for r in network)


def test_lane_out_is_the_lane_proposal_field_for_field():
    """Issue 13: LaneOut copied the planner's fields by hand and drifted (break_even)."""
    import dataclasses

    from jiqun.network.lines import LaneProposal, PooledLine
    from jiqun.web.routes.network import LaneOut, PooledLineOut

    lane_fields = [f.name for f in dataclasses.fields(LaneProposal)]
    assert list(LaneOut.model_fields) == [*lane_fields, "proposed", "offered"]
    assert LaneOut.model_fields["break_even"].annotation == float | None  # infinite: null
    assert list(PooledLineOut.model_fields) == [
        *(f.name for f in dataclasses.fields(PooledLine)), "offered"]


def test_a_lane_served_by_a_running_line_is_not_offered_and_cannot_be_accepted(api):
    h = api.tokens["demo-city"]
    lanes = api.get("/api/lines", headers=h).json()["lanes"]
    served = next(x for x in lanes if x["origin"].startswith("稍岗") and x["dest"] == "广州市")
    assert served["existing_line"] == "active" and served["line_code"] == "L-YC-广州"
    assert served["proposed"] and not served["offered"]
    with demo_province().store.session() as s:
        before = s.scalar(select(func.count()).select_from(DedicatedLine))
    r = api.post("/api/lines/accept", headers=h, json={
        "origin_id": served["origin_id"], "dest_code": served["dest_code"]})
    assert r.status_code == 409 and "L-YC-广州" in r.json()["detail"]
    with demo_province().store.session() as s:
        assert s.scalar(select(func.count()).select_from(DedicatedLine)) == before


def _registry_row(api, user: str, code: str) -> dict:
    rows = api.get("/api/lines/registry", headers=api.tokens[user]).json()["lines"]
    return next(r for r in rows if r["code"] == code)


def test_a_line_goes_draft_approved_running_closed_through_the_api(api):
    city, province = api.tokens["demo-city"], api.tokens["demo-province"]
    # A lane without a line, or with a draft (earlier tests of the module accept lanes too).
    by, lane = next((by, x) for by in ("market", "outlet")
                    for x in api.get(f"/api/lines?by={by}", headers=city).json()["lanes"]
                    if x["offered"] or x["existing_line"] == "draft")
    body = {"by": by, "origin_id": lane["origin_id"], "dest_code": lane["dest_code"]}
    accepted = api.post("/api/lines/accept", headers=city, json=body).json()
    line_id, code = accepted["id"], accepted["code"]
    relisted = api.get(f"/api/lines?by={by}", headers=city).json()["lanes"]
    again = next(x for x in relisted if x["origin_id"] == lane["origin_id"]
                 and x["dest_code"] == lane["dest_code"])
    assert (again["existing_line"], again["line_code"], again["offered"]) == ("draft", code,
                                                                             False)
    mine = _registry_row(api, "demo-city", code)
    assert mine["status"] == "draft" and mine["steps"] == ["close"]  # not its own approval
    assert mine["proposed_by"] and mine["saving_per_year"] == lane["saving_per_year"]
    refused = api.post(f"/api/lines/{line_id}/approve", headers=city,
                       json={"version": mine["version"]})
    assert refused.status_code == 403
    theirs = _registry_row(api, "demo-province", code)
    assert theirs["steps"] == ["approve", "close"]
    stale = api.post(f"/api/lines/{line_id}/approve", headers=province,
                     json={"version": theirs["version"] + 1})
    assert stale.status_code == 409 and stale.json()["theirs"]["status"] == "draft"
    approved = api.post(f"/api/lines/{line_id}/approve", headers=province,
                        json={"version": theirs["version"]})
    assert approved.status_code == 200, approved.text
    row = approved.json()
    assert row["status"] == "approved" and row["approved_by"] and row["approved_at"]
    twice = api.post(f"/api/lines/{line_id}/approve", headers=province,
                     json={"version": row["version"]})
    assert twice.status_code == 409
    opened = api.post(f"/api/lines/{line_id}/open", headers=city,
                      json={"version": row["version"], "on": "2026-01-05"}).json()
    assert opened["status"] == "active" and opened["opened_on"] == "2026-01-05"
    served = next(x for x in api.get(f"/api/lines?by={by}", headers=city).json()["lanes"]
                  if x["line_code"] == code)
    assert served["existing_line"] == "active" and not served["offered"]
    closed = api.post(f"/api/lines/{line_id}/close", headers=city,
                      json={"version": opened["version"], "on": "2026-03-01"}).json()
    assert closed["status"] == "closed" and closed["steps"] == []
    # A closed lane may be proposed again: it is offered, and accepting makes a new draft.
    back = next(x for x in api.get(f"/api/lines?by={by}", headers=city).json()["lanes"]
                if x["origin_id"] == lane["origin_id"] and x["dest_code"] == lane["dest_code"])
    assert back["offered"] and back["existing_line"] is None
    anew = api.post("/api/lines/accept", headers=city, json=body)
    assert anew.status_code == 201, anew.text
    assert anew.json()["code"] != code and anew.json()["status"] == "draft"
    assert anew.json()["proposal"]["kind"] == "lane"
    with demo_province().store.session() as s:
        changes = [a.changes.get("status") for a in s.scalars(select(AuditEntry).where(
            AuditEntry.entity == "dedicated_lines", AuditEntry.entity_id == str(line_id),
            AuditEntry.action == "update").order_by(AuditEntry.id)) if a.changes.get("status")]
    assert changes == [["draft", "approved"], ["approved", "active"], ["active", "closed"]]


def _page_steps(html: str) -> dict[str, list[str]]:
    """Line code → the steps its row offers as forms."""
    rows = re.findall(r'<tr data-line="([^"]+)">(.*?)</tr>', html, re.S)
    return {code: re.findall(r'action="/lines/\d+/(\w+)"', row) for code, row in rows}


def test_the_registry_page_shows_only_the_steps_a_user_may_take(app, api, page):
    city = api.tokens["demo-city"]
    lane = next(x for x in api.get("/api/lines", headers=city).json()["lanes"]
                if x["offered"] or x["existing_line"] == "draft")
    assert api.post("/api/lines/accept", headers=city, json={
        "origin_id": lane["origin_id"], "dest_code": lane["dest_code"]}).status_code in (200, 201)
    html = page.get("/lines/registry?per_page=500").text  # demo-city
    assert "专线台账" in html and "全年运行" in html
    shown = _page_steps(html)
    listed = api.get("/api/lines/registry", headers=api.tokens["demo-city"]).json()["lines"]
    assert shown == {r["code"]: r["steps"] for r in listed}
    assert shown["L-YC-广州"] == ["close"]  # running: the city may close it, nothing else
    csv_file = page.get("/lines/registry?format=csv")
    assert csv_file.status_code == 200 and "L-YC-广州" in csv_file.text
    assert csv_file.text.startswith("\ufeff专线,") and "全年运行" in csv_file.text
    assert all("approve" not in steps for steps in shown.values()), "the city approves nothing"
    with TestClient(app) as c:
        token = CSRF.search(c.get("/login").text).group(1)
        c.post("/login", data={"username": "demo-province", "password": PASSWORD,
                               "csrf_token": token}, follow_redirects=False)
        theirs = _page_steps(c.get("/lines/registry?per_page=500").text)
        province = api.get("/api/lines/registry",
                           headers=api.tokens["demo-province"]).json()["lines"]
        assert theirs == {r["code"]: r["steps"] for r in province}
        drafts = [r for r in province if r["status"] == "draft"]
        assert drafts and all("approve" in theirs[r["code"]] for r in drafts)
