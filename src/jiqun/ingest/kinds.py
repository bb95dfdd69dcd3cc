"""The import kinds (导入类型): one registry entry per kind of file people import.

An entry says everything the importer, the command line, the upload page and its ``/api`` twin
need: the columns (:mod:`jiqun.ingest.columns`), the action that the acting user must be allowed
(:mod:`jiqun.permissions`), where the good rows go (the store, upserted by code, or the lake,
appended) and how large an upload may be. A new kind — rate cards, say — is one more entry
here: its :class:`~jiqun.ingest.columns.Format`, and a ``StoreKind(model, plan)`` or
``LakeKind(validate)``; ``jiqun import``, ``/import`` and ``/api/import/{kind}`` offer it at once.

The upload limits protect a web server, not the importer: ``jiqun import`` reads files of any
size (10M waybills are fine, ``benchmarks/import_waybills.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from jiqun.ingest.columns import CUSTOMERS, EVENTS, MARKETS, RATE_CARDS, WAYBILLS, Format
from jiqun.ingest.lake_kinds import (
    EVENT_GROUPS,
    WAYBILL_GROUPS,
    LakeKind,
    validate_events,
    validate_waybills,
    validate_waybills_at_once,
)
from jiqun.ingest.store_kinds import STORE_KINDS, StoreKind
from jiqun.permissions import Action
from jiqun.store.models import RateCard

MIB = 1024 * 1024


def _plan_rate_cards(*args):
    from jiqun.money.cards import plan_rate_cards  # imports jiqun.ingest: not at module load

    return plan_rate_cards(*args)


def _apply_rate_cards(*args):
    from jiqun.money.cards import apply_rate_cards

    return apply_rate_cards(*args)


@dataclass(frozen=True)
class ImportKind:
    """One kind of import file."""

    name: str  # the kind as typed: ``jiqun import waybills``, ``/api/import/waybills``
    label: str  # English msgid of the kind's name on pages
    help: str  # English msgid: what the file holds, one line
    format: Format
    action: Action  # the registry action the acting user needs (asked in ``import_file``)
    target: StoreKind | LakeKind  # where the good rows go
    max_upload_bytes: int  # largest upload accepted by the web (the CLI has no limit)
    max_upload_rows: int  # most data rows of an upload

    @property
    def to_lake(self) -> bool:
        return isinstance(self.target, LakeKind)


IMPORT_KINDS: dict[str, ImportKind] = {k.name: k for k in (
    ImportKind("markets", "Markets", "Cluster markets: code, name, type, industry, org unit, place",
               MARKETS, Action.DATA_IMPORT, STORE_KINDS["markets"], 5 * MIB, 10_000),
    # Customers are archived merchants (jiqun.sales.archive): their own action.
    ImportKind("customers", "Customers",
               "Merchants: code, name, market or org unit, contact, platforms, tier",
               CUSTOMERS, Action.CUSTOMER_ARCHIVE, STORE_KINDS["customers"], 20 * MIB, 50_000),
    ImportKind("waybills", "Waybills",
               "Waybills: number, customer or outlet, product, ship time, destination, weight, fee",
               WAYBILLS, Action.DATA_IMPORT, LakeKind(validate_waybills, WAYBILL_GROUPS,
                                           at_once=validate_waybills_at_once), 100 * MIB, 1_000_000),
    ImportKind("events", "Tracking events", "Tracking events: waybill number, time, event, place",
               EVENTS, Action.DATA_IMPORT, LakeKind(validate_events, EVENT_GROUPS), 100 * MIB, 1_000_000),
    # Rate cards: one row per line, grouped into card versions (jiqun.money.cards).
    ImportKind("rate_cards", "Rate cards",
               "Rate cards: code, origin, product, start date, zone, weight band, first and "
               "further-kg prices, surcharges",
               RATE_CARDS, Action.PRICE_CARD_EDIT,
               StoreKind(RateCard, _plan_rate_cards, apply=_apply_rate_cards), 5 * MIB, 50_000),
)}


def import_kind(name: str) -> ImportKind | None:
    return IMPORT_KINDS.get(name)
