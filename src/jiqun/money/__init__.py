"""Money (P1–P4): one place one price (rate cards, contract prices, bundles, quotes), the
activity-based cost model, and the monthly ledger with loss cover, bonus pools and outlet shares.

- ``rates``     rate cards and their dated versions; the price of one parcel (``quote``)
- ``cost``      cost pools, drivers and parameters; cost per parcel with its drivers
- ``ledger``    revenue − cost = profit per org unit and month; loss cover; reconciliation
- ``incentives`` bonus pools for beating targets, outlet profit shares (众创众享)
"""
