"""Markets and teams (M1, M2, G1): the registry of cluster markets (集群市场) with their yearly
targets, the province's TOP-N by potential (潜力), key-city targets (重点产粮区) and the marketing
teams (营销团队) a city proposes and the province approves.

:mod:`jiqun.markets.registry` creates and edits markets, :mod:`jiqun.markets.potential` ranks
them, :mod:`jiqun.markets.teams` runs the team workflow. Pages, ``/api`` and ``jiqun markets`` /
``jiqun teams`` all call these functions with a session scoped to the acting user.
"""
