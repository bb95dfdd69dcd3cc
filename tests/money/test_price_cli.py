"""``jiqun price quote --format json`` answers price, chargeable weight and the rule; ``jiqun
price cards activate`` refuses a role that may not and puts a draft in force for one that may."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from typer.testing import CliRunner

from jiqun.config import get_settings
from jiqun.store.models import PriceStatus, RateOrigin
from tests.money.conftest import card


@pytest.fixture
def cli(tree, tmp_path, monkeypatch):
    monkeypatch.setenv("JIQUN_STORE_URL", tree.store.url)
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("JIQUN_LOCALE", "en")
    monkeypatch.setenv("JIQUN_RULES_FILE", str(tmp_path / "rules.toml"))
    get_settings.cache_clear()
    from jiqun.cli import app

    yield lambda *argv: CliRunner().invoke(app, list(argv))
    get_settings.cache_clear()


def test_quote_as_json(tree, cli):
    with tree.store.transaction() as s:
        card(s, tree, "SG-P", RateOrigin.MARKET, [("far", 0, 60, 1, 5.00, 1.50)])
    result = cli("price", "quote", "--market", "HA-SG", "--to", "440100", "--weight", "1.01",
                 "--on", "2026-03-01", "--format", "json", "--user", "am")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert (answer["price"], answer["chargeable_weight"]) == (6.5, 1.01)
    assert answer["rule"]["card_code"] == "SG-P" and answer["rule"]["version"] == 1
    assert answer["rule"]["zone"] == "far" and answer["rule"]["override"] is False
    missing = cli("price", "quote", "--market", "HA-XC-FZ", "--to", "440100", "--weight", "1",
                  "--user", "am")
    assert missing.exit_code == 2  # another city's market: not found


def test_activate_from_the_command_line(tree, cli):
    with tree.store.transaction() as s:
        card(s, tree, "SG-P", RateOrigin.MARKET, [("same", 0, 60, 1, 2.00, 0.5)],
             status=PriceStatus.DRAFT, valid_from=dt.date(2026, 6, 1))
    refused = cli("price", "cards", "activate", "SG-P", "--number", "1", "--user", "am")
    assert refused.exit_code == 2 and "may not" in refused.output
    done = cli("price", "cards", "activate", "SG-P", "--number", "1", "--user", "city",
               "--format", "json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)[0]["status"] == "in_force"
