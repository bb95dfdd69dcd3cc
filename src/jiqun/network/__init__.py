"""Network (N1–N4): flows by origin and destination, dedicated lines, consolidation centres.

* :mod:`jiqun.network.flows` — volume by origin market × destination, day, season, product;
* :mod:`jiqun.network.lines` — lanes that reach the direct-shipping threshold and their lines;
* :mod:`jiqun.network.hubs` — where consolidation centres pay and how big;
* :mod:`jiqun.network.location` — the exact optimisers (HiGHS) behind centres and lines;
* :mod:`jiqun.network.params` — trucks, costs and radii (``var/planning.toml``).
"""
