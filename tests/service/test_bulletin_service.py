"""The weekly bulletin's service section (counts, ageing and breach rate per city) on the tiny
demo with cases opened by hand: the HTML and the XLSX show what ``city_summary`` says."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest
from sqlalchemy import select

from jiqun.demo import build_demo
from jiqun.kpi.service import OperatingPicture
from jiqun.reports.html import bulletin_html
from jiqun.reports.weekly import weekly_bulletin
from jiqun.reports.xlsx import bulletin_xlsx
from jiqun.service import cases
from jiqun.service.rules import ServiceRules
from jiqun.store import Scope, Store
from jiqun.store.models import (
    ExceptionKind,
    ParcelException,
    Responsibility,
    ServiceCase,
)
from jiqun.store.org import unit_by_code

UNTIL = dt.date(2026, 11, 26)  # Thursday; the bulletin's week is 16–22 November


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("service-bulletin")
    store = Store(f"sqlite:///{root}/store.db")
    build_demo(store, root / "lake", scale="tiny", seed=7, until=UNTIL, progress=False)
    with store.transaction() as s:  # the demo's own cases out of the way: only ours count
        for e in s.scalars(select(ParcelException)):
            s.delete(e)
        for c in s.scalars(select(ServiceCase)):
            s.delete(c)
        city = unit_by_code(s, "HA-SQ")  # Shangqiu, the demo's city with two agents
        for n, day in enumerate((dt.datetime(2026, 11, 17, 10), dt.datetime(2026, 11, 20, 10))):
            s.add(ParcelException(
                waybill_no=f"SVC{n}", org_unit_id=city.id, customer_id=None,
                kind=ExceptionKind.LATE, responsibility=Responsibility.CARRIER, detected_at=day))
            s.flush()
            cases.open_cases(s, day, ServiceRules())
    yield store, root / "lake"
    store.engine.dispose()


def test_the_bulletin_has_the_service_queue_per_city(demo):
    store, lake = demo
    picture = OperatingPicture(store, lake, Scope.WHOLE)
    try:
        b = weekly_bulletin(picture, "2026-W47", locale="en")
        with store.session() as s:
            expected = cases.city_summary(s, dt.datetime(2026, 11, 22, 23, 59, 59), days=7)
    finally:
        picture.close()
    assert [c.city_code for c in b.service_cities] == [c.city_code for c in expected]
    [city] = b.service_cities
    # two cases opened that week, neither answered: both missed their deadlines by Sunday
    assert (city.open, city.opened, city.breached, city.breach_rate) == (2, 2, 2, 1.0)
    assert city.ageing == [0, 0, 1, 1]  # 2 days 14 h and 5 days 14 h old at the week's end
    html = bulletin_html(b, "en")
    assert 'id="service"' in html and "8. Service queue by city" in html and city.city in html
    zh = bulletin_html(weekly_bulletin(OperatingPicture(store, lake, Scope.WHOLE), "2026-W47"),
                       "zh-CN")
    assert "八、各市主动客服工单" in zh


def test_the_bulletin_xlsx_has_a_service_sheet(demo, tmp_path):
    store, lake = demo
    picture = OperatingPicture(store, lake, Scope.WHOLE)
    try:
        b = weekly_bulletin(picture, "2026-W47", locale="en")
    finally:
        picture.close()
    path = bulletin_xlsx(b, tmp_path / "b.xlsx", "en")
    sheet = openpyxl.load_workbook(path)["Service queue"]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    header = next(r for r in values if r and r[0] == "City")
    row = values[values.index(header) + 1]
    assert header[1:4] == ["Open cases", "Waiting on others", "Missed a deadline"]
    assert row[1] == 2 and row[-1] == 1.0
