"""The parcel pages and their /api twins on the web tests' world (Huzhou and Hangzhou)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from jiqun.lake import EVENT_DATASET, WAYBILL_DATASET, append
from jiqun.store.models import ExceptionKind, ParcelException, Responsibility
from jiqun.store.org import unit_by_code
from jiqun.web.app import create_app
from tests.web.conftest import DATA_DATE, bearer, fresh_world, signed_in

OWN = "zl_big-20240615-0"  # a Huzhou parcel of the base world (delivered, no scans)
HANGZHOU = "xh_live-20240615-0"


def at(day: int, hour: int) -> dt.datetime:
    return dt.datetime(2024, 6, day, hour)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    world = fresh_world(tmp_path_factory.mktemp("tracking"))
    lake = world.settings.lake_path
    with world.store.transaction() as s:
        zhili, xihu = unit_by_code(s, "ZJ-HUZ-WX-ZL").id, unit_by_code(s, "ZJ-HGZ-XH").id
        s.add(ParcelException(
            waybill_no="T-RUN", org_unit_id=zhili, customer_id=world.ids["zl_big"],
            kind=ExceptionKind.FAILED_DELIVERY, responsibility=Responsibility.RECIPIENT,
            reason="unreachable", detected_at=at(15, 12)))
    base = {"org_unit_id": zhili, "customer_id": world.ids["zl_big"],
            "market_id": world.ids["zhili"], "product": "express", "origin_adcode": "330502",
            "dest_province": "440000", "dest_city": "440100", "weight_kg": 2.5, "fee": 9.0,
            "status": "in_transit"}
    append(lake, WAYBILL_DATASET, pa.Table.from_pylist([
        {**base, "waybill_no": "T-RUN", "ship_time": at(13, 9)},
        {**base, "waybill_no": "T-NEW", "ship_time": at(15, 9)},
        {**base, "waybill_no": "T-GONE", "ship_time": at(12, 9)},
    ]))
    rows = [("T-RUN", zhili, at(13, 9), "picked_up", None),
            ("T-RUN", zhili, at(13, 13), "departed", None),
            ("T-RUN", zhili, at(14, 20), "arrived", None),
            ("T-RUN", zhili, at(15, 8), "out_for_delivery", None),
            ("T-RUN", zhili, at(15, 11), "failed_attempt", "电话无人接听"),
            ("T-GONE", zhili, at(12, 9), "picked_up", None),
            ("T-GONE", zhili, at(13, 9), "delivered", None),
            (HANGZHOU, xihu, at(15, 12), "picked_up", None)]
    append(lake, EVENT_DATASET, pa.Table.from_pylist([
        {"waybill_no": n, "org_unit_id": u, "event_time": t, "event_code": c,
         "location_adcode": "440106", "note": note} for n, u, t, c, note in rows]))
    yield world
    world.store.engine.dispose()


@pytest.fixture(scope="module")
def app(world):
    return create_app(world.settings)


@pytest.fixture(scope="module")
def api(app):
    with TestClient(app) as client:
        client.headers.update(bearer(client, "hz-city"))
        yield client


@pytest.fixture(scope="module")
def page(app):
    return signed_in(app, "hz-city")


def test_api_timeline_of_an_own_parcel(api):
    data = api.get("/api/parcels/T-RUN").json()
    assert data["waybill"]["customer_name"] == "童趣服饰"
    assert data["waybill"]["destination"] == "广州市"
    state = data["state"]
    assert (state["state"], state["attempts"], state["reason"], state["responsibility"]) == (
        "failed_attempt", 1, "unreachable", "recipient")
    assert [s["code"] for s in state["scans"]] == [
        "picked_up", "departed", "arrived", "out_for_delivery", "failed_attempt"]
    assert [(e["kind"], e["reason"]) for e in data["exceptions"]] == [
        ("failed_delivery", "unreachable")]
    assert data["as_of"] == f"{DATA_DATE + dt.timedelta(days=1)}T00:00:00"


def test_a_parcel_without_scans(api):
    assert api.get(f"/api/parcels/{OWN}").json()["state"]["state"] is None


@pytest.mark.parametrize("number,status", [(HANGZHOU, 404), ("NO-SUCH-1", 404),
                                           ("a b", 422), ("x" * 33, 422)])
def test_foreign_unknown_or_malformed_waybills(api, page, number, status):
    assert api.get(f"/api/parcels/{number}").status_code == status
    assert page.get(f"/parcels/{number}").status_code == status


def test_hq_province_sees_the_hangzhou_parcel(app):
    with TestClient(app) as client:
        headers = bearer(client, "zj-prov")
        assert client.get(f"/api/parcels/{HANGZHOU}", headers=headers).json()[
            "state"]["state"] == "picked_up"


def test_search_goes_to_the_parcel_or_says_why_not(api, page):
    found = page.get("/parcels?q= T-RUN ", follow_redirects=False)
    assert (found.status_code, found.headers["location"]) == (303, "/parcels/T-RUN")
    missing = page.get(f"/parcels?q={HANGZHOU}")
    assert missing.status_code == 404 and "在您的管辖范围内没有这个运单" in missing.text
    assert "只能包含字母" in page.get("/parcels?q=<b>").text
    assert page.get("/parcels").status_code == 200
    assert api.get("/api/parcels?q=T-RUN").json()["waybill_no"] == "T-RUN"
    assert api.get(f"/api/parcels?q={HANGZHOU}").json() == {
        "q": HANGZHOU, "items": [], "waybill_no": None}


def test_parcel_page_in_chinese_and_english(page):
    html = page.get("/parcels/T-RUN").text
    for text in ("投递失败", "联系不上收件人", "收件人", "童趣服饰", "2.50 千克", "发现的异常"):
        assert text in html, text
    english = page.get("/parcels/T-RUN?lang=en").text
    assert "Delivery attempt failed" in english and "Recipient unreachable" in english
    page.get("/parcels?lang=zh-CN")


def test_customer_parcels_in_flight(api, page, world):
    customer = world.ids["zl_big"]
    data = api.get(f"/api/customers/{customer}/parcels").json()
    # T-GONE was delivered; the base world's waybills are marked delivered
    assert [(p["waybill_no"], p["state"]) for p in data["items"]] == [
        ("T-RUN", "failed_attempt"), ("T-NEW", None)]
    assert (data["total"], data["items"][0]["age_hours"]) == (2, 63.0)
    html = page.get(f"/customers/{customer}/parcels").text
    assert 'href="/parcels/T-RUN"' in html and "投递失败" in html
    assert f'href="/customers/{customer}/parcels"' in page.get(f"/customers/{customer}").text
    second = api.get(f"/api/customers/{customer}/parcels?page=9&per_page=1").json()
    assert (second["page"], [p["waybill_no"] for p in second["items"]]) == (2, ["T-NEW"])


def test_a_foreign_customers_parcels_are_not_found(api, page, world):
    assert api.get(f"/api/customers/{world.ids['xh_live']}/parcels").status_code == 404
    assert page.get(f"/customers/{world.ids['xh_live']}/parcels").status_code == 404


def test_the_service_group_links_the_search(page):
    assert '<a href="/parcels"' in page.get("/").text


# -- jiqun parcel --------------------------------------------------------------------------------
@pytest.fixture
def cli(world, monkeypatch):
    from typer.testing import CliRunner

    from jiqun.cli import app as cli_app
    from jiqun.config import get_settings

    monkeypatch.setenv("JIQUN_STORE_URL", world.store.url)
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(world.settings.lake_path))
    monkeypatch.setenv("JIQUN_LOCALE", "en")
    monkeypatch.delenv("JIQUN_USER", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *argv: runner.invoke(cli_app, ["parcel", *argv])
    get_settings.cache_clear()


def test_cli_json_is_the_api_timeline(cli, api):
    import json

    result = cli("T-RUN", "--user", "hz-city", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["state"]["state"] == "failed_attempt"
    assert [s["code"] for s in data["state"]["scans"]] == [
        s["code"] for s in api.get("/api/parcels/T-RUN").json()["state"]["scans"]]
    assert data["exceptions"][0]["kind"] == "failed_delivery"


def test_cli_table_and_csv(cli):
    table = cli("T-RUN", "--user", "zl-marketer")
    assert table.exit_code == 0, table.output
    assert "Delivery attempt failed" in table.stdout and "Recipient unreachable" in table.stdout
    csv = cli("T-RUN", "--user", "zl-marketer", "--format", "csv")
    assert csv.stdout.splitlines()[0] == "time,scan,place,note,cause,counted"
    assert len(csv.stdout.splitlines()) == 6


def test_cli_foreign_or_unknown_waybill_is_not_found(cli):
    for number in (HANGZHOU, "NO-SUCH-1"):
        result = cli(number, "--user", "hz-city")
        assert result.exit_code == 2 and "Not found" in result.output, result.output
    assert cli(HANGZHOU, "--user", "zj-prov").exit_code == 0
