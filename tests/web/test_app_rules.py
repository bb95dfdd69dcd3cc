"""Every page reads the rules of its app's settings (web.deps.rules_of), never the process's.

The process's environment names a rules file and a planning file that cannot be read (not TOML):
a page that fell back to ``FileRules.configured()`` without the app's settings would fail with a
500. The app's own files set rules that show on the pages: the development-rate bar of /grids,
the pool's days, the plan's start of day; the registry's TOP-N and key-city pages (which forgot
the rules once) and the planning pages must answer too.
"""

from __future__ import annotations

import pytest

from jiqun.config import get_settings
from jiqun.kpi.rules import KpiRules
from jiqun.network.params import PlanningParams
from jiqun.sales.rules import SalesRules
from jiqun.sales.visit_plan import PlanRules
from jiqun.web.app import create_app
from tests.web.conftest import signed_in

APP_RULES = """\
development_rate_target = 0.37

[sales]
pool_days = 77

[sales.plan]
day_start = "07:05"
"""


@pytest.fixture
def broken_environment(tmp_path, monkeypatch):
    """The process-wide settings name files that no page may read."""
    broken = tmp_path / "process-rules.toml"
    broken.write_text("this is [[ not toml", encoding="utf-8")
    monkeypatch.setenv("JIQUN_RULES_FILE", str(broken))
    monkeypatch.setenv("JIQUN_PLANNING_FILE", str(broken))
    get_settings.cache_clear()
    yield broken
    get_settings.cache_clear()


@pytest.fixture
def app(world, tmp_path, broken_environment):
    rules = tmp_path / "app-rules.toml"
    rules.write_text(APP_RULES, encoding="utf-8")
    planning = tmp_path / "app-planning.toml"
    planning.write_text(PlanningParams().to_toml(), encoding="utf-8")
    return create_app(world.settings.model_copy(
        update={"rules_file": rules, "planning_file": planning}))


def test_configured_reads_the_settings_it_is_given(app, broken_environment):
    settings = app.state.settings
    assert KpiRules.configured(settings).development_rate_target == 0.37
    assert SalesRules.configured(settings).pool_days == 77
    assert PlanRules.configured(settings).day_start == "07:05"
    assert PlanningParams.configured(settings) == PlanningParams()
    with pytest.raises(ValueError):  # without settings: the (broken) process-wide file
        KpiRules.configured()


def test_kpi_pages_use_the_apps_rules(app):
    client = signed_in(app, "hz-city")
    api = client.get("/api/grids")
    assert api.status_code == 200 and api.json()["development_rate_target"] == 0.37
    page = client.get("/grids")
    assert page.status_code == 200 and "开发率标准 37%" in page.text


@pytest.mark.parametrize("path", ["/markets/top", "/api/markets/top", "/markets/targets",
                                  "/api/markets/targets"])
def test_registry_pages_use_the_apps_rules(app, path):
    response = signed_in(app, "zj-prov").get(path)
    assert response.status_code == 200, response.text


def test_registry_picture_carries_the_apps_rules(app, monkeypatch):
    from jiqun.kpi import service

    seen = []
    original = service.OperatingPicture.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append(self.rules)

    monkeypatch.setattr(service.OperatingPicture, "__init__", spy)
    assert signed_in(app, "zj-prov").get("/api/markets/top").status_code == 200
    assert seen and all(r.development_rate_target == 0.37 for r in seen)


def test_pool_page_uses_the_apps_rules(app):
    page = signed_in(app, "hz-city").get("/pool")
    assert page.status_code == 200 and "连续 77 天无人跟进" in page.text


def test_visit_plan_uses_the_apps_rules(app, world):
    response = signed_in(app, "zl-marketer").get("/api/visit-plan")
    assert response.status_code == 200, response.text
    assert response.json()["leave_at"] == "07:05"


@pytest.mark.parametrize("path", ["/flows", "/api/flows", "/lines", "/api/lines"])
def test_planning_pages_use_the_apps_parameters(app, path):
    response = signed_in(app, "hz-city").get(path)
    assert response.status_code == 200, response.text
