"""``--scope CODE`` of the command line: the org subtree a command works on."""

from __future__ import annotations

import typer

from jiqun.store import Scope, Store
from jiqun.store.org import unit_by_code


def scope_for_code(store: Store, code: str | None) -> Scope:
    """The scope of the org unit ``code`` (no code: :data:`Scope.WHOLE`)."""
    if not code:
        return Scope.WHOLE
    with store.session() as s:
        unit = unit_by_code(s, code)
        if unit is None:
            raise typer.BadParameter(f"no org unit with code {code!r}", param_hint="--scope")
        return Scope.for_unit(s, unit)
