"""What the market and team services refuse, as English message ids the caller translates
(``t(msgid)``): the pages show them beside the field, the API returns them with 4xx, the CLI
prints them in the configured language."""

from __future__ import annotations

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
    """The acting user's role or level may not do this (answered 403); ``args[0]`` is a msgid."""

    @property
    def msgid(self) -> str:
        return self.args[0]


def field_errors(error: ValidationError, messages: dict[str, str], fallback: str) -> Invalid:
    """One message per field of a pydantic error, from ``messages`` (a field's own wording
    reads better than pydantic's English, and it has a translation)."""
    found: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "__all__"
        found.setdefault(field, messages.get(field, fallback))
    return Invalid(found)
