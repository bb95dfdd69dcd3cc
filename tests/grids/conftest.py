"""Grid and team tests share the markets' small organisation (``world``) and its store."""

from tests.markets.conftest import world, wstore  # noqa: F401  (fixtures)
