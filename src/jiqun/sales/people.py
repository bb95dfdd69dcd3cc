"""The names of the people tied to a record: a customer's owner and VIP manager, a visit's
visitor, a prospect's manager.

Who owns a customer is a fact of the customer, the same for every viewer who may see the
customer: the city manager, HQ and the marketer in the outlet all read 任刚英. The owner's own
``User`` row may lie outside a viewer's subtree (a county manager owning an outlet's merchant),
so the names are read here as plain ``id → display name`` pairs by a Core select that bypasses
the viewer's scope, and never as ``User`` rows in the scoped session (where ``Session.get`` and
lazy loads could hand them out later).

Callers pass only ids they read from records the viewer can already see; nothing but the
display name of those people is revealed.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.store.models import Customer, User

_USERS = User.__table__  # the table, not the entity: rows come back as tuples, never as Users


def names_of(session: Session, user_ids: Iterable[int | None]) -> dict[int, str]:
    """Display names of the given users, whatever the session's scope (see the module doc)."""
    ids = sorted({i for i in user_ids if i is not None})
    if not ids:
        return {}
    query = select(_USERS.c.id, _USERS.c.display_name).where(_USERS.c.id.in_(ids))
    return dict(session.execute(query, execution_options={"unscoped": True}).all())


def customer_people(session: Session, customers: Iterable[Customer]) -> dict[int, str]:
    """Names of the owners and VIP managers of customers the session has loaded (so sees)."""
    ids = []
    for customer in customers:
        ids += [customer.owner_id, customer.vip_manager_id]
    return names_of(session, ids)
