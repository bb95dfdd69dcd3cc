"""Maps in a real browser, at phone and desktop width: every map draws on the local base map
(county layer registered, place names shown) with all of its data in view — /hubs for HQ,
whose merchants span three provinces, drew an empty map before. ``JIQUN_E2E_SHOTS=/tmp/shots``
saves screenshots."""

from __future__ import annotations

import pytest

from tests.e2e.server import CHROMIUM, DESKTOP, PHONE, overflow, serving_demo, shoot, sign_in

PASSWORD = "jiqun-demo"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    with serving_demo(tmp_path_factory.mktemp("e2e-maps")) as url:
        yield url


# What the page's chart holds: the base map's name and size, the share of the data's points
# drawn inside the chart, the place names on screen and the shapes in view.
DRAWN = """(el) => {
  const chart = echarts.getInstanceByDom(el);
  const geo = chart.getOption().geo[0];
  const data = JSON.parse(document.getElementById(el.id + "-data").textContent);
  const points = [];  // every [lon, lat] of the data, however nested ({lon, lat} too)
  (function walk(v) {
    if (Array.isArray(v)) {
      if (v.length >= 2 && v.length <= 3 && v.every(x => typeof x === "number") &&
          v[0] > 60 && v[0] < 150 && v[1] > 0 && v[1] < 60) { points.push(v); } else { v.forEach(walk); }
    } else if (v && typeof v === "object") {
      if (typeof v.lon === "number" && typeof v.lat === "number") { points.push([v.lon, v.lat]); }
      Object.values(v).forEach(walk);
    }
  })(data);
  const w = el.clientWidth, h = el.clientHeight;
  const inView = points.filter(p => {
    const [x, y] = chart.convertToPixel({ geoIndex: 0 }, p);
    return x >= 0 && x <= w && y >= 0 && y <= h;
  }).length;
  const box = el.getBoundingClientRect();
  const shapes = Array.from(el.querySelectorAll("svg path")).filter(p => {
    const r = p.getBoundingClientRect();
    return r.width > 2 && r.right > box.left && r.left < box.right && r.bottom > box.top && r.top < box.bottom;
  }).length;
  const names = Array.from(el.querySelectorAll("svg text")).map(t => t.textContent).filter(t => t);
  return { map: geo.map, basemap: el.dataset.basemap,
           features: echarts.getMap(geo.map).geoJSON.features.length,
           points: points.length, inView, shapes, names };
}"""

CASES = [
    # user, page, map element, a county layer it must have, place names one of which shows
    ("demo-hq", "/hubs", "hub-map", "410000", ["安徽", "江西", "湖北", "福建", "江苏"]),
    ("demo-city", "/hubs", "hub-map", "410000", ["梁园区", "睢阳区", "虞城县", "夏邑县", "宁陵县"]),
    ("demo-city", "/flows", "flow-map", "410000", ["北京", "湖北", "江西", "陕西", "四川"]),
]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("user, path, element, layer, places", CASES,
                         ids=["hq-hubs", "city-hubs", "city-flows"])
def test_map_draws_on_the_base_map_with_its_data_in_view(base, browser, viewport, user, path,
                                                        element, layer, places):
    phone = viewport is PHONE
    context = browser.new_context(viewport=viewport, device_scale_factor=2 if phone else 1,
                                  is_mobile=phone, has_touch=phone)
    page = context.new_page()
    outside: list[str] = []  # every request must stay on the local server
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
    sign_in(page, base, user, PASSWORD)
    page.goto(f"{base}{path}")
    page.wait_for_selector(f"#{element}[data-drawn=true]", timeout=20_000)
    drawn = page.eval_on_selector(f"#{element}", DRAWN)

    assert drawn["map"] == drawn["basemap"] and layer in drawn["map"].split(":")[1].split("+")
    assert drawn["features"] > 158  # Henan's 158 counties and the other provinces' outlines
    assert drawn["points"] > 0 and drawn["inView"] == drawn["points"], drawn
    assert drawn["shapes"] > 50, f"{path} as {user}: the base map is not in view"
    assert set(places) & set(drawn["names"]), f"no place names on {path}: {drawn['names'][:20]}"
    assert outside == []
    assert overflow(page) <= 0
    page.locator(f"#{element}").scroll_into_view_if_needed()
    shoot(page, f"{'phone' if phone else 'desktop'}-{user}-{path.strip('/')}-map")
    context.close()


# The other maps, reached through their page's first link: the grid design of a market, a
# grid's page, the visit plan's route.
OTHERS = [("/grids/design", "a[href^='/grids/design?market_id=']", "grid-scatter"),
          ("/grids", "[data-testid=grid-link]", "grid-map"),
          ("/visit-plan", None, "route-map")]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("start, link, element", OTHERS, ids=["design", "grid", "route"])
def test_other_maps_draw_on_the_county_layer(base, browser, viewport, start, link, element):
    phone = viewport is PHONE
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    page = context.new_page()
    sign_in(page, base, "demo-city", PASSWORD)
    page.goto(f"{base}{start}")
    if link:
        page.goto(base + page.locator(link).first.get_attribute("href"))
    page.wait_for_selector(f"#{element}[data-drawn=true]", timeout=20_000)
    drawn = page.eval_on_selector(f"#{element}", DRAWN)
    assert drawn["map"] == "jiqun-base:410000" and drawn["features"] > 158
    assert drawn["points"] > 0 and drawn["inView"] == drawn["points"], drawn
    assert drawn["shapes"] > 5 and drawn["names"], drawn["names"]
    assert overflow(page) <= 0
    page.locator(f"#{element}").scroll_into_view_if_needed()
    shoot(page, f"{'phone' if phone else 'desktop'}-demo-city-{element}")
    context.close()


def test_hq_narrows_the_hubs_to_one_province(base, browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base, "demo-hq", PASSWORD)
    page.goto(f"{base}/hubs")
    page.wait_for_selector("#hub-map[data-drawn=true]", timeout=20_000)
    page.select_option("[data-testid=hub-province]", "410000")
    with page.expect_response(lambda r: "/hubs?" in r.url and "province=410000" in r.url):
        page.click("#hubs-form button[type=submit]")
    page.wait_for_function("() => { const el = document.getElementById('hub-map');"
                           " return el && el.dataset.basemap === 'jiqun-base:410000'; }",
                           timeout=20_000)
    drawn = page.eval_on_selector("#hub-map", DRAWN)
    assert drawn["map"] == "jiqun-base:410000" and drawn["inView"] == drawn["points"] > 0
    assert "province=410000" in page.url
    shoot(page, "desktop-demo-hq-hubs-henan")
    context.close()
