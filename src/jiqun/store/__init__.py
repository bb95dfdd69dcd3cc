"""Store (OLTP): what people edit. See :mod:`jiqun.store.models`."""

from jiqun.store.db import Store
from jiqun.store.scope import Scope, ScopeError

__all__ = ["Scope", "ScopeError", "Store"]
