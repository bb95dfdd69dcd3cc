"""KPIs (M3, G2, R1): the operating picture of a scope, every figure from one function.

:class:`jiqun.kpi.service.OperatingPicture` is the one object pages, ``/api``, ``jiqun kpi`` and
the reports ask: volume and revenue, plan progress (:mod:`~jiqun.kpi.progress`), market share
(:mod:`~jiqun.kpi.share`), customer KPIs, grid KPIs, figures per level and rankings. The
thresholds and windows are rules (:mod:`~jiqun.kpi.rules`); figures are cached per data version
(:mod:`~jiqun.kpi.cache`).
"""
