"""English labels (gettext msgids) of the domain's codes, translated in the templates by ``_``."""

from __future__ import annotations

from jiqun.store.models import CustomerTier, LifecycleStage, MarketType, OrgLevel, Role

MARKET_TYPES = {
    MarketType.INDUSTRIAL_CLUSTER.value: "Industrial cluster",
    MarketType.WHOLESALE_MARKET.value: "Wholesale market",
    MarketType.ECOMMERCE_PARK.value: "E-commerce park",
    MarketType.LIVESTREAM_BASE.value: "Livestream base",
    MarketType.TAOBAO_VILLAGE.value: "Taobao village",
}

STAGES = {
    LifecycleStage.ARCHIVED.value: "Archived",
    LifecycleStage.NURTURING.value: "Nurturing",
    LifecycleStage.TRIAL.value: "Trial shipping",
    LifecycleStage.COOPERATING.value: "Cooperating",
    LifecycleStage.GROWING.value: "Growing",
    LifecycleStage.VIP.value: "VIP",
    LifecycleStage.CHURNED.value: "Churned",
}

TIERS = {
    CustomerTier.SPECIAL.value: "Special tier",
    CustomerTier.FIRST.value: "Tier 1",
    CustomerTier.SECOND.value: "Tier 2",
    CustomerTier.THIRD.value: "Tier 3",
    CustomerTier.MICRO.value: "Micro",
}

LEVELS = {
    OrgLevel.HQ.value: "HQ",
    OrgLevel.PROVINCE.value: "Province",
    OrgLevel.CITY.value: "City",
    OrgLevel.COUNTY.value: "County",
    OrgLevel.OUTLET.value: "Outlet",
}

ROLES = {
    Role.ADMIN.value: "Administrator",
    Role.HQ_BUSINESS.value: "HQ business department",
    Role.PROVINCIAL_MANAGER.value: "Provincial manager",
    Role.SUPERVISOR.value: "Supervisor",
    Role.CITY_MANAGER.value: "City manager",
    Role.COUNTY_MANAGER.value: "County manager",
    Role.DEPARTMENT_HEAD.value: "Department head",
    Role.MARKETER.value: "Marketer",
    Role.ACCOUNT_MANAGER.value: "Account manager",
    Role.COURIER.value: "Courier",
    Role.CUSTOMER_SERVICE.value: "Customer service",
}

PLATFORMS = {"taobao": "Taobao group", "pdd": "Pinduoduo group", "live": "Livestream",
             "other": "Other platform"}

VISIT_METHODS = {
    "card": "Business card", "directory": "Directory", "sweep": "Door-to-door sweep",
    "referral": "Referral", "phone": "Phone", "event": "Event",
    "retiree": "Retired staff network", "revisit": "Revisit",
}

VISIT_OUTCOMES = {
    "no_interest": "No interest", "interested": "Interested", "trial": "Trial agreed",
    "signed": "Signed", "follow_up": "Follow-up", "lost": "Lost to a competitor",
}


def label(table: dict[str, str], code: object) -> str:
    """The msgid for ``code`` (an enum or its value); unknown codes are shown as they are."""
    if code is None:
        return "—"
    value = getattr(code, "value", code)
    return table.get(value, str(value))
