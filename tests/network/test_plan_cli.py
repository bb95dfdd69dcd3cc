"""``jiqun flows`` and ``jiqun plan lines|hubs`` on the demo province."""

from __future__ import annotations

import csv
import io
import json

from typer.testing import CliRunner

from jiqun.cli import app
from jiqun.config import get_settings
from tests.network.demo_province import demo_province


def _run(monkeypatch, *args):
    demo = demo_province()
    monkeypatch.setenv("JIQUN_STORE_URL", f"sqlite:///{demo.root}/store.db")
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(demo.lake))
    path = demo.root / "planning.toml"
    path.write_text(demo.params.to_toml(), encoding="utf-8")
    monkeypatch.setenv("JIQUN_PLANNING_FILE", str(path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output


def test_plan_lines_csv(monkeypatch):
    rows = list(csv.DictReader(io.StringIO(
        _run(monkeypatch, "plan", "lines", "--user", "system", "--scope", "HA-SQ", "--format", "csv"))))
    yucheng = {r["dest"] for r in rows if r["origin"].startswith("稍岗")}
    assert {"广州市", "南京市", "杭州市"} <= yucheng
    assert all(r["decision"] != "not_yet" for r in rows)


def test_flows_and_peaks_json(monkeypatch):
    rows = json.loads(_run(monkeypatch, "flows", "--user", "system", "--scope", "HA-SQ", "--limit", "3",
                           "--format", "json"))
    assert len(rows) == 3 and rows[0]["dest"] == "广州市"
    peaks = json.loads(_run(monkeypatch, "flows", "--user", "system", "--peaks", "--format", "json"))
    assert {"618", "Double 11"} <= {p["name"] for p in peaks}


def test_plan_hubs_reports_bound_and_gap(monkeypatch):
    rows = json.loads(_run(monkeypatch, "plan", "hubs", "--user", "system", "--scope", "HA-SQ", "--model",
                           "mclp", "--p", "1", "--closable", "--format", "json"))
    assert rows[0]["status"] == "optimal" and rows[0]["gap"] == 0
    assert rows[0]["objective"] == rows[0]["bound"]
    assert 0 < rows[0]["covered_share"] < 1


def _invoke(monkeypatch, *args):
    demo = demo_province()
    monkeypatch.setenv("JIQUN_STORE_URL", f"sqlite:///{demo.root}/store.db")
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(demo.lake))
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()


def test_the_planners_act_as_the_user_in_their_subtree(monkeypatch):
    mine = json.loads(_run(monkeypatch, "flows", "--user", "demo-city", "--format", "json"))
    city = json.loads(_run(monkeypatch, "flows", "--user", "system", "--scope", "HA-SQ",
                           "--format", "json"))
    assert mine == city and mine
    wider = _invoke(monkeypatch, "plan", "lines", "--user", "demo-city", "--scope", "HA")
    assert wider.exit_code == 2 and "不在 demo-city 所辖范围内" in wider.output  # never widens
    nobody = _invoke(monkeypatch, "plan", "hubs", "--scope", "HA-SQ")
    assert nobody.exit_code == 2 and "--user" in nobody.output


def test_more_centres_than_candidate_sites_is_refused(monkeypatch):
    result = _invoke(monkeypatch, "plan", "hubs", "--user", "system", "--scope", "HA-SQ",
                     "--model", "pmedian", "--p", "100000")
    assert result.exit_code == 2 and "候选" in result.output


def test_plan_lines_steps_a_line_through_its_lifecycle(monkeypatch):
    """`jiqun plan lines registry|approve|open|close`: the same service as the pages; the
    city that accepted a draft may not approve it, the province may; a stale version is
    refused."""
    from sqlalchemy import select

    from jiqun.store.models import DedicatedLine

    lanes = json.loads(_run(monkeypatch, "plan", "lines", "--user", "demo-city", "--format",
                            "json"))
    served = next(x for x in lanes if x["origin"].startswith("稍岗") and x["dest"] == "广州市")
    assert served["existing_line"] == "active" and served["line_code"] == "L-YC-广州"
    demo = demo_province()
    with demo.store.session() as s:
        unit = s.scalar(select(DedicatedLine.org_unit_id).where(DedicatedLine.code == "L-YC-广州"))
    with demo.store.transaction() as s:
        s.add(DedicatedLine(code="CLI-DRAFT-1", dest_adcode="320100", org_unit_id=unit,
                            proposed_level="city", proposal={"saving_per_year": 10.0}))
    rows = json.loads(_run(monkeypatch, "plan", "lines", "registry", "--user", "demo-city",
                           "--status", "draft", "--format", "json"))
    row = next(r for r in rows if r["code"] == "CLI-DRAFT-1")
    assert row["status"] == "draft" and row["steps"] == "close"
    own = _invoke(monkeypatch, "plan", "lines", "approve", "CLI-DRAFT-1", "--version", "1",
                  "--user", "demo-city")
    assert own.exit_code == 2 and "高于采纳人层级" in own.output
    stale = _invoke(monkeypatch, "plan", "lines", "approve", "CLI-DRAFT-1", "--version", "9",
                    "--user", "demo-province")
    assert stale.exit_code == 2 and "已被他人修改" in stale.output
    done = json.loads(_run(monkeypatch, "plan", "lines", "approve", "CLI-DRAFT-1", "--version",
                           "1", "--user", "demo-province", "--format", "json"))
    assert done[0]["status"] == "approved" and done[0]["version"] == 2
    opened = json.loads(_run(monkeypatch, "plan", "lines", "open", "CLI-DRAFT-1", "--version",
                             "2", "--mode", "peak_only", "--on", "2026-01-05", "--user",
                             "demo-city", "--format", "json"))
    assert opened[0]["status"] == "peak_only" and opened[0]["opened_on"] == "2026-01-05"
    closed = json.loads(_run(monkeypatch, "plan", "lines", "close", "CLI-DRAFT-1", "--version",
                             "3", "--user", "demo-city", "--format", "json"))
    assert closed[0]["status"] == "closed"
