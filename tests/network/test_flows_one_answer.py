"""/api/flows and ``jiqun flows`` give the same rows by default: the trailing year of
:func:`jiqun.network.flows.flow_window`, on the demo province (two years of data)."""

from __future__ import annotations

import datetime as dt
import json

from fastapi.testclient import TestClient

from jiqun.config import Settings
from jiqun.network.flows import TRAILING_DAYS
from jiqun.web.app import create_app
from tests.network.demo_province import UNTIL, demo_province
from tests.network.test_plan_cli import _run

PASSWORD = "jiqun-demo"


def _api_flows(username: str) -> dict:
    demo = demo_province()
    path = demo.root / "planning.toml"
    path.write_text(demo.params.to_toml(), encoding="utf-8")
    settings = Settings(store_url=f"sqlite:///{demo.root}/store.db", lake_path=demo.lake,
                        environment="test", planning_file=path)
    with TestClient(create_app(settings)) as c:
        token = c.post("/api/token", data={"username": username, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        r = c.get("/api/flows?limit=10000", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_api_and_cli_flows_agree_by_default(monkeypatch):
    api = _api_flows("demo-hq")
    cli = json.loads(_run(monkeypatch, "flows", "--user", "system", "--format", "json"))
    assert api["end"] == str(UNTIL)
    assert dt.date.fromisoformat(api["start"]) == UNTIL - dt.timedelta(days=TRAILING_DAYS)
    assert api["total"] == len(cli) > 0
    keys = ("origin_id", "dest_code", "product", "parcels", "daily_parcels", "revenue",
            "weight_kg", "line_share")
    assert [tuple(r[k] for k in keys) for r in api["flows"]] == [
        tuple(r[k] for k in keys) for r in cli]
    # The whole history is more: the default really is the trailing year, in both.
    whole = json.loads(_run(monkeypatch, "flows", "--user", "system", "--from", "2000-01-01",
                            "--format", "json"))
    assert sum(r["parcels"] for r in whole) > sum(r["parcels"] for r in cli)
