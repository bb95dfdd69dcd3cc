"""Free-text addresses and (province, city, county) names → admin divisions (行政区划).

``cpca.transform`` is slow per call (it builds a pandas frame each time), so
:func:`parse_addresses` calls it once for a whole batch of distinct addresses. Structured names go
through :func:`jiqun.geo.find`, resolving a county inside its city or province so that names
shared by several places (鼓楼区 is in Nanjing, Xuzhou, Fuzhou, Kaifeng) are not guessed.
"""

from __future__ import annotations

from functools import lru_cache

from jiqun.geo.divisions import Division, division, find, province_code


def parse_addresses(addresses: list[str | None]) -> list[Division | None]:
    """The most precise division named in each address: the county if found, else the city,
    else the province; ``None`` when nothing is recognised."""
    unique = list(dict.fromkeys(a.strip() for a in addresses if a and a.strip()))
    found: dict[str, Division | None] = {}
    if unique:
        import cpca

        frame = cpca.transform(unique)
        for text, province, city, county, adcode in zip(
            unique, frame["省"], frame["市"], frame["区"], frame["adcode"], strict=True
        ):
            found[text] = _division_of(province, city, county, adcode)
    return [found.get(a.strip()) if a and a.strip() else None for a in addresses]


def _is_name(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _division_of(province, city, county, adcode) -> Division | None:
    """cpca's answer as a division, at the level cpca actually recognised."""
    if not _is_name(adcode):
        return None
    found = division(adcode)
    if found is None:
        return None
    if _is_name(county) or found.level != "county":
        return found
    # cpca reports a county code even when only the city was named: step back up.
    return division(found.city) if _is_name(city) and found.city else division(found.province)


def resolve_names(
    province: str | None = None, city: str | None = None, county: str | None = None
) -> tuple[str | None, str | None, str | None] | None:
    """Adcodes of (province, city, county) given as names (full or short) or adcodes.

    Returns ``None`` when a given part is unknown, ambiguous or contradicts another part; a part
    that was not given stays ``None`` unless it follows from a lower one (the city of a county).
    """
    return _resolve(*(_clean(v) for v in (province, city, county)))


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@lru_cache(maxsize=65536)
def _resolve(province: str | None, city: str | None, county: str | None):
    if not (province or city or county):
        return None
    p = c = k = None
    if province:
        p = find(province, "province")
        if p is None:
            return None
    if city:
        c = find(city, "city", within=p.adcode if p else None)
        if c is None:
            return None
    if county:
        within = c.adcode if c else (p.adcode if p else None)
        k = find(county, "county", within=within)
        if k is None:
            return None
        c = c or division(k.city)
    if c and not p:
        p = division(province_code(c.adcode))
    return (
        p.adcode if p else None,
        c.adcode if c else None,
        k.adcode if k else None,
    )


def resolve_place(text: str | None) -> Division | None:
    """One place given as an adcode or a single name (province, city or county, tried in that
    order of precision: county, city, province); ``None`` when unknown or ambiguous."""
    text = _clean(text)
    if not text:
        return None
    if text.isdigit():
        return division(text)
    for level in ("county", "city", "province"):
        found = find(text, level)
        if found is not None:
            return found
    return None
