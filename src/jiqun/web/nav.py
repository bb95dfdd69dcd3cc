"""The main navigation 导航: a group per capability, each a short list of pages (PRODUCT.md's order).

One list drives the header on every page, so a new page is added here once. On a phone the
groups sit in one row and open as menus (<details>, no script needed).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str  # English msgid, translated in the template


@dataclass(frozen=True)
class NavGroup:
    label: str
    items: tuple[NavItem, ...]


NAV: tuple[NavGroup, ...] = (
    NavGroup("Overview", (
        NavItem("/", "Dashboard"),
        NavItem("/bulletin", "Bulletin"),
        NavItem("/inbox", "Inbox"),
        NavItem("/users", "Users"),
        NavItem("/import", "Import data"),
        NavItem("/jobs", "Jobs"),
    )),
    NavGroup("Markets", (
        NavItem("/markets", "Markets"),
        NavItem("/markets/top", "TOP-N"),
        NavItem("/markets/targets", "Key-city targets"),
        NavItem("/share", "Share"),
        NavItem("/tiers", "Tiers"),
    )),
    NavGroup("Grids and teams", (
        NavItem("/grids", "Grids"),
        NavItem("/grids/design", "Grid design"),
        NavItem("/teams", "Teams"),
    )),
    NavGroup("Sales", (
        NavItem("/customers", "Customers"),
        NavItem("/visit-plan", "Visit plan"),
        NavItem("/visits", "Visits"),
        NavItem("/pool", "Pool"),
        NavItem("/funnel", "Funnel"),
        NavItem("/campaigns", "Campaigns"),
        NavItem("/archive", "Bulk archive"),
    )),
    NavGroup("Network", (
        NavItem("/flows", "Flows"),
        NavItem("/lines", "Lines"),
        NavItem("/hubs", "Centres"),
    )),
    NavGroup("Service", (
        NavItem("/service", "Service queue"),
        NavItem("/service/exceptions", "Exceptions"),
        NavItem("/parcels", "Parcel tracking"),
        NavItem("/warehouses", "Warehouses"),
        NavItem("/problems", "Problems"),
    )),
    NavGroup("Money", (
        NavItem("/prices", "Prices"),
        NavItem("/prices/competitors", "Competitor prices"),
        NavItem("/prices/advice", "Price advice"),
        NavItem("/prices/products", "Product advice"),
        NavItem("/finance", "Ledger"),
        NavItem("/finance/cost", "Cost"),
    )),
)


def current_item(path: str) -> NavItem | None:
    """The item a page belongs to: the longest item path that prefixes the page's path."""
    def matches(item: NavItem) -> bool:
        return path == item.path or (item.path != "/" and path.startswith(item.path + "/"))
    candidates = [item for group in NAV for item in group.items if matches(item)]
    return max(candidates, key=lambda item: len(item.path), default=None)
