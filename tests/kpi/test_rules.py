"""The KPI rules registry: documented, loadable from TOML, tiers by thresholds."""

from __future__ import annotations

from pathlib import Path

import pytest

from jiqun.kpi.rules import KpiRules, TierThresholds
from jiqun.store.models import CustomerTier

DOCS = Path(__file__).resolve().parents[2] / "docs" / "kpi.md"


def test_every_rule_is_documented():
    text = DOCS.read_text(encoding="utf-8")
    missing = [name for name in KpiRules.model_fields if f"`{name}`" not in text]
    assert not missing, f"document these rules in docs/kpi.md: {missing}"


def test_rules_load_from_toml_with_province_thresholds(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('active_days = 14\nproration = "working"\n'
                    "[province_tier_thresholds.410000]\nspecial = 800\nfirst = 200\n"
                    "second = 50\nthird = 10\n", encoding="utf-8")
    rules = KpiRules.from_file(path)
    assert (rules.active_days, rules.proration) == (14, "working")
    assert rules.thresholds_for("410000").special == 800
    assert rules.thresholds_for("330000") == TierThresholds()


@pytest.mark.parametrize("daily, tier", [(2000, "special"), (1999.9, "first"), (100, "second"),
                                         (20, "third"), (19.99, "micro"), (0, "micro")])
def test_tier_boundaries_are_inclusive(daily, tier):
    assert TierThresholds().tier_of(daily) == CustomerTier(tier)


def test_an_unknown_proration_is_refused():
    with pytest.raises(ValueError):
        KpiRules(proration="lunar")
