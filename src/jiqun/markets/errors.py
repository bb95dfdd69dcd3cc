"""The market and team services refuse with the shared service errors of :mod:`jiqun.errors`."""

from jiqun.errors import Conflict, Invalid, NotAllowed, NotFound, field_errors

__all__ = ["Conflict", "Invalid", "NotAllowed", "NotFound", "field_errors"]
