"""What services refuse, as English message ids the caller translates (``t(msgid)``).

Every capability raises these, so every edge answers them the same way: the web app maps them to
4xx pages and JSON (``web/app.py``), the CLI prints them in the configured language and exits 2
(``cli_actor.refusals``), the Python API simply sees the exception.

=============  ======  =====================================================================
error          status  meaning
=============  ======  =====================================================================
Invalid        422     input that cannot be saved; ``errors`` maps a field to a msgid
NotFound       404     no such record, or one outside the acting user's scope
NotAllowed     403     the acting user's role or level may not do this (``permissions.py``)
Conflict       409     the record changed since the user saw it, or the decision is taken
=============  ======  =====================================================================
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class Invalid(ValueError):
    """Input that cannot be saved: ``errors`` maps a field to the msgid of what is wrong."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors

    def translated(self, t) -> dict[str, str]:
        return {field: t(msgid) for field, msgid in self.errors.items()}


class NotFound(LookupError):
    """The record does not exist or lies outside the acting user's scope (answered 404)."""


class NotAllowed(PermissionError):
    """The acting user's role or level may not do this (answered 403); ``args[0]`` is a msgid,
    ``values`` fills its placeholders (msgids themselves, such as an action's label)."""

    def __init__(self, msgid: str, **values: Any):
        super().__init__(msgid)
        self.values = values

    @property
    def msgid(self) -> str:
        return self.args[0]

    def translated(self, t) -> str:
        return t(self.msgid, **{k: t(v) for k, v in self.values.items()})


class Conflict(RuntimeError):
    """Someone else changed the record (or took the decision) since the user saw it (409).

    ``msgid`` says what happened; ``mine`` and ``theirs`` hold, per field, the value the user sent
    and the value now stored, so a page can show both and let the user choose.
    """

    def __init__(self, msgid: str, mine: dict[str, Any] | None = None,
                 theirs: dict[str, Any] | None = None, **values: Any):
        super().__init__(msgid)
        self.mine = mine or {}
        self.theirs = theirs or {}
        self.values = values

    @property
    def msgid(self) -> str:
        return self.args[0]

    def translated(self, t) -> str:
        return t(self.msgid, **self.values)


def field_errors(error: ValidationError, messages: dict[str, str], fallback: str) -> Invalid:
    """One message per field of a pydantic error, from ``messages`` (a field's own wording
    reads better than pydantic's English, and it has a translation)."""
    found: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "__all__"
        found.setdefault(field, messages.get(field, fallback))
    return Invalid(found)
