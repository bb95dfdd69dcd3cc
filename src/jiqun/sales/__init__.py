"""Customer development (客户开发): lifecycle (三步走), visits (走访), the pool (公海) and the
funnel (转化漏斗). Capabilities C1, C3, C4 and C5 of the product.

* :mod:`jiqun.sales.rules` — the thresholds (at risk, churn, pool days, reminders);
* :mod:`jiqun.sales.lifecycle` — stage changes from waybills and from visits, recorded and audited;
* :mod:`jiqun.sales.visits` — logging a visit and a marketer's list of visits and follow-ups;
* :mod:`jiqun.sales.pool` — prospects that return to the pool, and the reminders before;
* :mod:`jiqun.sales.funnel` — conversion by stage, method, campaign, platform and person.
"""
