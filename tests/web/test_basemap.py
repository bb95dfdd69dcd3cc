"""The base maps: built by `make setup` into static/vendor/basemap/ from npm packages, served
locally, covering the demo's counties, and under every map page, whose data lies inside them;
/hubs for HQ (a scope of several provinces) shows its merchants, page and API."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jiqun.config import Settings
from jiqun.geo import all_divisions
from jiqun.web.app import create_app
from tests.network.demo_province import demo_province

STATIC = Path(__file__).resolve().parents[2] / "src/jiqun/web/static"
BASEMAP = STATIC / "vendor/basemap"
HENAN = "410000"


def _assigned(path: Path) -> dict[str, object]:
    """The values a vendor/basemap file assigns: ``(...).NAME = {json};`` or
    ``(...).NAME[KEY] = {json};``, one a line."""
    found = {}
    # Split on newlines only: the compressed shapes hold characters str.splitlines breaks at.
    for line in path.read_text(encoding="utf-8").rstrip("\n").split("\n"):
        m = re.match(r'^\(.*?\)\.(\w+)(?: = .*?\)\["(\d+)"\])? = (.*);$', line)
        assert m, f"unexpected line in {path.name}: {line[:80]}"
        found[m.group(2) or m.group(1)] = json.loads(m.group(3))
    return found


@cache
def _index() -> dict:
    return _assigned(BASEMAP / "index.js")


def _inside(point, bbox) -> bool:
    return bbox[0] <= point[0] <= bbox[2] and bbox[1] <= point[1] <= bbox[3]


# -- the files setup builds ---------------------------------------------------------------------
def test_setup_builds_the_base_maps_small_enough_to_serve():
    index = _index()
    assert {"provinces", "outlines"} <= index.keys()
    assert len(index["outlines"]["features"]) == 34  # every province, HK, Macao and Taiwan
    assert len(index["provinces"]) >= 27
    sizes = {p.name: p.stat().st_size for p in BASEMAP.glob("*.js")}
    assert set(sizes) == {"index.js"} | {f"{code}.js" for code in index["provinces"]}
    # Simplified: one province at most 250 kB (Henan 144 kB, 620 kB unsimplified).
    assert max(sizes.values()) < 250_000 and sum(sizes.values()) < 4_000_000


def test_henan_counties_are_the_demo_divisions():
    """Every county (区县) of Henan in jiqun.geo is one feature of the base map, by adcode,
    named alike, with its label point inside the province."""
    counties = _assigned(BASEMAP / f"{HENAN}.js")[HENAN]
    assert counties["UTF8Encoding"] is True
    shapes = {f["properties"]["key"]: f for f in counties["features"]
              if not f["properties"].get("border")}
    border = [f for f in counties["features"] if f["properties"].get("border")]
    assert [f["properties"]["key"] for f in border] == [f"{HENAN}-border"]
    ours = {d.adcode: d for d in all_divisions().values()
            if d.level == "county" and d.adcode.startswith("41")}
    assert shapes.keys() == ours.keys()
    assert shapes["411403"]["properties"]["name"] == ours["411403"].name == "睢阳区"
    bbox = _index()["provinces"][HENAN]["bbox"]
    assert all(_inside(f["properties"]["cp"], bbox) for f in shapes.values())
    assert [c[0] for c in _index()["provinces"][HENAN]["cities"]].count("商丘市") == 1


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node (needed by make setup) is not on PATH")
def test_basemap_js_finds_the_province_of_a_point():
    """basemap.js picks the county layers by the provinces' outlines, not their boxes:
    商丘 lies in 安徽's box too; 北京 is a hole in 河北 and has no county layer."""
    script = """
      const vm = require("vm"), fs = require("fs");
      const ctx = { window: { echarts: {} }, document: {} };
      vm.runInNewContext(fs.readFileSync(process.argv[1], "utf8"), ctx);
      vm.runInNewContext(fs.readFileSync(process.argv[2], "utf8"), ctx);
      const B = ctx.window.JiqunBasemap;
      console.log(JSON.stringify({
        shangqiu: B.provincesOf([[115.65, 34.41]]), beijing: B.provincesOf([[116.40, 39.90]]),
        guangzhou: B.provincesOf([[113.26, 23.13]]), huzhou: B.provincesOf([[120.20, 30.87]]),
        mixed: B.provincesOf([[115.65, 34.41], [115.7, 34.4], [120.2, 30.87], [113.26, 23.13],
                              [113.3, 23.1], [113.2, 23.2], [87.6, 43.8], [87.6, 43.9]]),
        box: B.extent([[115.6, 34.4]]) }));
    """
    out = subprocess.run([NODE, "-e", script, str(BASEMAP / "index.js"),
                          str(STATIC / "basemap.js")], capture_output=True, text=True,
                         check=True, timeout=60)
    found = json.loads(out.stdout)
    assert found["shangqiu"] == [HENAN] and found["beijing"] == []
    assert found["guangzhou"] == ["440000"] and found["huzhou"] == ["330000"]
    assert found["mixed"] == ["410000", "440000", "650000"]  # the three with most points
    west, south, east, north = found["box"]  # one town: still 0.1° of surroundings
    assert east - west == pytest.approx(0.1) and north - south == pytest.approx(0.1)


# -- served by the app --------------------------------------------------------------------------
def _client(username: str) -> TestClient:
    demo = demo_province()
    path = demo.root / "planning.toml"
    path.write_text(demo.params.to_toml(), encoding="utf-8")
    settings = Settings(store_url=f"sqlite:///{demo.root}/store.db", lake_path=demo.lake,
                        environment="test", planning_file=path)
    client = TestClient(create_app(settings))
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"username": username, "password": "jiqun-demo",
                                    "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    return client


@pytest.fixture(scope="module")
def hq():
    with _client("demo-hq") as c:
        yield c


@pytest.fixture(scope="module")
def city():
    with _client("demo-city") as c:
        yield c


@pytest.mark.parametrize("path", ["/static/basemap.js", "/static/vendor/basemap/index.js",
                                  f"/static/vendor/basemap/{HENAN}.js"])
def test_base_maps_are_served_locally_as_javascript(city, path):
    r = city.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] in ("text/javascript",
                                                       "application/javascript")
    assert "http://" not in r.text and "https://" not in r.text  # nothing fetched from outside


def _map_data(html: str, element: str) -> dict:
    m = re.search(rf'<script type="application/json" id="{element}-data">(.*?)</script>',
                  html, re.S)
    assert m, f"{element} has no data"
    return json.loads(m.group(1))


def _points(data: dict) -> list[list[float]]:
    if "lines" in data:
        return [p for line in data["lines"] for p in (line["from"], line["to"])]
    return [[p["lon"], p["lat"]] for p in data["points"] + data["centres"]]


def _covered(point) -> bool:
    """A point lies in a province with counties, or at least in the outlines' China."""
    return any(_inside(point, p["bbox"]) for p in _index()["provinces"].values()) or \
        _inside(point, [73.5, 18, 135, 53.6])


@pytest.mark.parametrize("path, element", [("/hubs", "hub-map"), ("/flows", "flow-map"),
                                           ("/lines", "line-map")])
def test_map_pages_load_the_base_map_and_their_data_lies_on_it(city, path, element):
    r = city.get(path)
    assert r.status_code == 200
    assert '<script src="/static/basemap.js" defer></script>' in r.text
    points = _points(_map_data(r.text, element))
    assert points and all(_covered(p) for p in points)
    if path == "/hubs":  # 商丘's merchants and centres: all on Henan's county layer
        bbox = _index()["provinces"][HENAN]["bbox"]
        assert all(_inside(p, bbox) for p in points)


def test_hubs_for_hq_shows_every_province_and_narrows_to_one(hq):
    page = hq.get("/hubs")
    assert page.status_code == 200
    data = _map_data(page.text, "hub-map")
    assert len(data["points"]) > 100 and data["centres"]
    api = hq.get("/api/hubs").json()
    assert len(api["points"]) == len(data["points"]) == api["coverage"]["merchants"]
    assert {p["adcode"] for p in api["provinces"]} == {"330000", "410000", "440000"}
    assert api["province"] is None
    assert 'data-testid="hub-province"' in page.text

    henan = hq.get("/api/hubs", params={"province": HENAN}).json()
    bbox = _index()["provinces"][HENAN]["bbox"]
    assert 0 < len(henan["points"]) < len(api["points"]) and henan["province"] == HENAN
    assert all(_inside([p["lon"], p["lat"]], bbox) for p in henan["points"])
    assert all(_inside([c["lon"], c["lat"]], bbox) for c in henan["centres"])
    on_page = _map_data(hq.get("/hubs", params={"province": HENAN}).text, "hub-map")
    assert len(on_page["points"]) == len(henan["points"])


def test_hubs_refuses_a_province_outside_the_scope(city):
    r = city.get("/api/hubs", params={"province": "330000"})  # 浙江: not 商丘's
    assert r.status_code == 422 and "province" in r.json()["errors"]
    assert city.get("/api/hubs", params={"province": "41"}).status_code == 422
    page = city.get("/hubs", params={"province": "330000"})
    assert page.status_code == 200 and 'data-testid="hub-errors"' in page.text
    assert _map_data(page.text, "hub-map")["points"]  # the whole scope instead
    # 商丘 is one province: nothing to choose
    assert 'data-testid="hub-province"' not in city.get("/hubs").text


def _coordinates(value) -> list[list[float]]:
    """Every [lon, lat] (or [lon, lat, n]) pair in a map's data, however nested."""
    if isinstance(value, dict):
        return [p for v in value.values() for p in _coordinates(v)]
    if isinstance(value, list):
        if 2 <= len(value) <= 3 and all(isinstance(v, int | float) for v in value) \
                and 60 < value[0] < 150 and 0 < value[1] < 60:
            return [value]
        return [p for v in value for p in _coordinates(v)]
    return []


def _first(client: TestClient, page: str, pattern: str) -> str:
    found = re.search(pattern, client.get(page).text)
    assert found, f"no {pattern} on {page}"
    return found.group(0).replace("&amp;", "&")


@pytest.mark.parametrize("page, link, element", [
    ("/grids/design", r"/grids/design\?market_id=\d+", "grid-scatter"),
    ("/grids", r"/grids/\d+(?=\")", "grid-map"),
    ("/visit-plan", None, "route-map"),
])
def test_other_map_pages_draw_their_data_on_the_county_layer(city, page, link, element):
    """The grid design, a grid's page and the visit route: 商丘's points, all on Henan's
    county layer, with basemap.js loaded."""
    url = _first(city, page, link) if link else page
    r = city.get(url)
    assert r.status_code == 200, url
    assert '<script src="/static/basemap.js" defer></script>' in r.text
    points = _coordinates(_map_data(r.text, element))
    bbox = _index()["provinces"][HENAN]["bbox"]
    assert points and all(_inside(p, bbox) for p in points), url
