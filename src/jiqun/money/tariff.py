"""The arithmetic of a price (计费), pure: no store, no dates looked up.

A parcel's price on a rate card's version, in this order:

1. **chargeable weight** (计费重量): the actual weight, or the volumetric weight
   L × W × H (cm³) ÷ divisor when that is larger (抛重), to the 10 g;
2. **the line**: the version's line of the destination zone whose weight band
   (``weight_from_kg``, ``weight_to_kg``] holds the chargeable weight;
3. **first weight and further kilograms** (首重 + 续重): the first weight's price, then each
   further kilogram *or part of one* (1.01 kg on a 1 kg first weight is one further kg);
4. **adjustments** of the contract (a discount) and of its bundle, each on the line's first and
   further-kg prices, rounded to the fen;
5. **surcharges** in their stated order (``position``), each an amount per parcel plus a percent
   of the price before it: a 10 % peak surcharge after a ¥2 remote one is 10 % of the price
   with the ¥2, before it 10 % of the price without.

Money is :class:`~decimal.Decimal` yuan rounded half up to the fen (0.01), as on a waybill.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")
GRAM_10 = Decimal("0.01")  # weights are recorded to 10 g


def money(value: float | Decimal | str) -> Decimal:
    """A yuan amount as an exact decimal rounded to the fen (floats through their repr)."""
    return Decimal(value if isinstance(value, Decimal) else repr(float(value))).quantize(
        FEN, ROUND_HALF_UP)


def kilograms(value: float | Decimal) -> Decimal:
    """A weight to the 10 g it is recorded to (a float32 1.01 kg is 1.01, not 1.0099999)."""
    return Decimal(repr(round(float(value), 2))).quantize(GRAM_10, ROUND_HALF_UP)


@dataclass(frozen=True)
class Line:
    """One line of a version: zone × weight band, first weight and its price, further kg."""

    zone: str
    weight_from_kg: Decimal
    weight_to_kg: Decimal
    first_weight_kg: Decimal
    first_price: Decimal
    extra_per_kg: Decimal

    def holds(self, weight: Decimal) -> bool:
        low = self.weight_from_kg
        return (low < weight or (low == 0 and weight == 0)) and weight <= self.weight_to_kg


@dataclass(frozen=True)
class Surcharge:
    """A surcharge: ``remote`` for destinations under ``adcodes``, ``peak`` for parcels shipped
    between ``starts_on`` and ``ends_on``; amount per parcel, then percent of the price so far."""

    position: int
    kind: str
    amount: Decimal = Decimal(0)
    percent: Decimal = Decimal(0)
    adcodes: tuple[str, ...] = ()
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None

    def applies(self, dest_adcode: str, on: dt.date) -> bool:
        if self.kind == "remote":
            return any(dest_adcode.startswith(prefix(a)) for a in self.adcodes)
        if self.kind == "peak":
            return ((self.starts_on is None or self.starts_on <= on)
                    and (self.ends_on is None or on <= self.ends_on))
        return False


def prefix(adcode: str) -> str:
    """The part of an adcode that names its division: 410000 → 41, 411400 → 4114."""
    code = adcode.rstrip("0")
    return code + "0" * (len(code) % 2)


def volumetric_kg(dims_cm: Sequence[float], divisor: float) -> Decimal:
    """L × W × H (cm³) ÷ divisor, up to the next 10 g (抛重)."""
    volume = Decimal(repr(float(math.prod(dims_cm))))
    return (volume / Decimal(repr(float(divisor)))).quantize(GRAM_10, ROUND_CEILING)


def chargeable_weight(actual_kg: float | Decimal, dims_cm: Sequence[float] | None,
                      divisor: float) -> Decimal:
    """max(actual, volumetric) where dimensions are known (计费重量)."""
    actual = kilograms(actual_kg)
    if not dims_cm:
        return actual
    return max(actual, volumetric_kg(dims_cm, divisor))


def extra_kilograms(weight: Decimal, first_weight_kg: Decimal) -> int:
    """Further kilograms charged: each kg *or part of one* above the first weight (续重)."""
    above = weight - first_weight_kg
    return int(above.to_integral_value(ROUND_CEILING)) if above > 0 else 0


def pick_line(lines: Iterable[Line], zone: str, weight: Decimal) -> Line | None:
    """The line of ``zone`` whose band holds ``weight`` (the lowest band when bands overlap)."""
    found = [x for x in lines if x.zone == zone and x.holds(weight)]
    return min(found, key=lambda x: x.weight_from_kg, default=None)


def adjusted(line: Line, adjustment: Decimal) -> Line:
    """The line with first and further-kg prices × (1 + adjustment), each to the fen
    (a 10 % contract discount is ``-0.10``)."""
    if adjustment == 0:
        return line
    factor = 1 + adjustment
    return replace(line, first_price=(line.first_price * factor).quantize(FEN, ROUND_HALF_UP),
                   extra_per_kg=(line.extra_per_kg * factor).quantize(FEN, ROUND_HALF_UP))


def line_price(line: Line, weight: Decimal) -> Decimal:
    """First weight's price + further kilograms × the further-kg price."""
    return (line.first_price + extra_kilograms(weight, line.first_weight_kg) * line.extra_per_kg
            ).quantize(FEN, ROUND_HALF_UP)


@dataclass(frozen=True)
class Applied:
    """A surcharge as it was applied: its kind and what it added."""

    kind: str
    position: int
    added: Decimal


def with_surcharges(price: Decimal, surcharges: Iterable[Surcharge], dest_adcode: str,
                    on: dt.date) -> tuple[Decimal, list[Applied]]:
    """The price after each surcharge that applies, in ``position`` order."""
    applied = []
    for s in sorted(surcharges, key=lambda x: x.position):
        if not s.applies(dest_adcode, on):
            continue
        added = (s.amount + price * s.percent / 100).quantize(FEN, ROUND_HALF_UP)
        price += added
        applied.append(Applied(s.kind, s.position, added))
    return price, applied
