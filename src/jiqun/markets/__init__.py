"""Markets (M1, M2): the registry of cluster markets (集群市场) with their yearly targets, the
province's TOP-N by potential (潜力) and key-city targets (重点产粮区).

:mod:`jiqun.markets.registry` creates and edits markets, :mod:`jiqun.markets.potential` ranks
them. Pages, ``/api`` and ``jiqun markets`` call these functions with a session scoped to the
acting user. Teams live with the grids they work (:mod:`jiqun.grids.teams`).
"""
