"""The names of the people tied to a record: a customer's owner and VIP manager, a visit's
visitor, a prospect's manager.

Who owns a customer is a fact of the customer, the same for every viewer who may see the
customer: the city manager, HQ and the marketer in the outlet all read 任刚英. The owner's own
``User`` row may lie outside a viewer's subtree (a county manager owning an outlet's merchant),
so the names are read here as plain ``id → display name`` pairs past the viewer's scope
(:func:`jiqun.store.scope.values_by_id`), never as ``User`` rows in the scoped session (where
``Session.get`` and lazy loads could hand them out later).

Callers pass only ids they read from records the viewer can already see; nothing but the
display name of those people is revealed.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from jiqun.store.models import Customer, User
from jiqun.store.scope import values_by_id


def names_of(session: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    """Display names of the given users, whatever the session's scope (see the module doc)."""
    rows = values_by_id(session, User.id, User.display_name, ids=user_ids)
    return {uid: row.display_name for uid, row in rows.items()}


def customer_people(session: Session, customers: Iterable[Customer]) -> dict[int, str]:
    """Names of the owners and VIP managers of customers the session has loaded (so sees)."""
    ids = []
    for customer in customers:
        ids += [customer.owner_id, customer.vip_manager_id]
    return names_of(session, ids)
