"""Rules of the prices (P1), in the ``[prices]`` table of the rules file (``JIQUN_RULES_FILE``).

* ``minimum_parcel_price``: the regulatory floor (yuan per parcel) when the cost model gives no
  cost: express carriers may not price below cost (《快递市场管理办法》, 不正当低价), and several
  provinces' postal administrations have named a floor for 电商件 near ¥1 — below it a price
  needs approval one level up (``price.approve``).
* ``volumetric_divisor``: the divisor of a new card's volumetric weight (L×W×H cm³ ÷ 6000,
  the usual divisor of Chinese express carriers' rate cards; a card may carry its own).

Example::

    [prices]
    minimum_parcel_price = 1.2
    volumetric_divisor = 8000
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from jiqun.config import FileRules


class PriceRules(FileRules):
    toml_table: ClassVar[tuple[str, ...]] = ("prices",)

    minimum_parcel_price: float = Field(1.0, ge=0, le=100)
    volumetric_divisor: float = Field(6000.0, gt=0, le=100_000)
