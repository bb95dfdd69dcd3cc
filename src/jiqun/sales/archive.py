"""Bulk archive (批量建档) of merchants from a spreadsheet, with de-duplication.

A sweep of a market (扫楼) brings back a list of merchants: name, contact, phone, address. The
archive must not hold the same merchant twice, so every row is compared with the archive in the
user's scope and with the rows above it:

* **exact duplicates** (完全重复) — the same normalised phone, or the same normalised name *and*
  address, or a merchant already merged away by a review — are not archived again: the missing
  fields of the existing record are filled in from the row (merged) or, when there is nothing to
  add, the row is skipped; both are reported;
* **likely duplicates** (疑似重复) — the same name at another address, the same address with
  another phone, or a similar name (``织里童装A店`` ~ ``织里 童装 A 店``) in the same market — are
  archived, and the pair goes to a review list where a manager merges or keeps them
  (:func:`merge_pair`, :func:`keep_pair`).

The file is read and validated by the customer importer of :mod:`jiqun.ingest` (same columns,
same reasons, same reject report; the code column is optional, a missing code is derived from
the merchant's normalised identity). The whole file is applied in one transaction or not at
all, and running the same file again changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import tempfile
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
from rapidfuzz import fuzz
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from jiqun.errors import Conflict, NotFound
from jiqun.geo.divisions import all_divisions
from jiqun.i18n import normalise_locale
from jiqun.ingest import source
from jiqun.ingest.api import Progress
from jiqun.ingest.columns import CUSTOMERS, Format
from jiqun.ingest.report import (
    ImportFileError,
    ImportReport,
    Reject,
    count_reasons,
    default_rejects_path,
    write_rejects,
)
from jiqun.ingest.store_kinds import Planned, plan_customers
from jiqun.permissions import Action, require
from jiqun.store.models import (
    CampaignCustomer,
    Customer,
    CustomerCarrier,
    DuplicateCandidate,
    DuplicateStatus,
    Notification,
    PriceContract,
    RateCard,
    StageChange,
    TrialShipment,
    Visit,
)
from jiqun.store.scope import session_scope

# The archive file: the customer import's columns, the code optional (a sweep list has none).
ARCHIVE_FORMAT = Format(
    "archive",
    tuple(dataclasses.replace(c, required=False) if c.name == "code" else c
          for c in CUSTOMERS.columns),
    one_of=CUSTOMERS.one_of,
)

SIMILAR_NAME = 85.0  # rapidfuzz ratio (0–100) of normalised names that makes a likely pair
MAX_PAIRS_PER_ROW = 3
# Fields an exact duplicate may fill in on the existing record when it has none.
FILLABLE = ("contact", "phone", "address", "adcode", "market_id", "grid_id", "platforms",
            "categories", "est_daily_volume", "owner_id", "tier")
# Fields filled in → the file's column (for messages: its header in the user's language).
FIELD_COLUMNS = {"market_id": "market", "grid_id": "grid", "owner_id": "owner", "adcode": "address"}
REASON_LABELS = {  # why a pair is a likely duplicate (msgids)
    "same_name": "Same name, other address",
    "same_address": "Same address, other phone",
    "similar_name": "Similar name",
}
MATCH_LABELS = {  # what made an exact duplicate (msgids)
    "code": "same code (archived before)",
    "phone": "same phone",
    "name_address": "same name and address",
    "merged": "merged before",
    "row": "same row above",
}


# -- normalisation (规范化) ----------------------------------------------------------------------
def field_label(name: str, locale: str) -> str:
    """The column a filled field came from, as the template's header (zh) or its name (en)."""
    column = FIELD_COLUMNS.get(name, name)
    if locale == "en":
        return column
    return next((c.zh for c in ARCHIVE_FORMAT.columns if c.name == column), column)


def normalise_text(text: str | None) -> str:
    """Full-width → half-width, lower case, no spaces or punctuation: ``织里 童装Ａ店。`` →
    ``织里童装a店``."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PZSC")


def normalise_phone(text: str | None) -> str:
    """Digits only, without the country code: ``+86 138-0000-0001`` → ``13800000001``."""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", text or ""))
    if len(digits) > 11 and digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) > 11 and digits.startswith("86"):
        digits = digits[2:]
    return digits


@cache
def _division_names() -> tuple[str, ...]:
    names = {normalise_text(d.name) for d in all_divisions().values()}
    return tuple(sorted((n for n in names if len(n) >= 2), key=len, reverse=True))


def normalise_address(text: str | None) -> str:
    """The address without its leading province / city / county names (a sweep list writes
    ``织里镇珍贝路18号`` where the archive has ``浙江省湖州市吴兴区织里镇珍贝路18号``)."""
    text = normalise_text(text)
    names = _division_names()
    for _ in range(3):
        prefix = next((n for n in names if text.startswith(n) and len(text) > len(n)), None)
        if prefix is None:
            break
        text = text[len(prefix):]
    return text


@dataclass(frozen=True)
class Identity:
    """The normalised keys of one merchant (身份): name, address, phone."""

    name: str
    address: str
    phone: str

    @classmethod
    def of(cls, name: str | None, address: str | None, phone: str | None) -> Identity:
        return cls(normalise_text(name), normalise_address(address), normalise_phone(phone))

    @property
    def keys(self) -> list[str]:
        """Exact-match keys: ``phone:…`` and ``name_address:…`` (where known)."""
        out = []
        if self.phone:
            out.append("phone:" + self.phone)
        if self.name and self.address:
            out.append("name_address:" + self.name + "|" + self.address)
        return out

    def code(self, salt: str = "") -> str:
        """A stable code for a merchant archived without one (the same row → the same code)."""
        digest = hashlib.sha1(f"{self.name}|{self.address}|{self.phone}|{salt}".encode()).hexdigest()
        return "AR" + digest[:10].upper()


# -- the report --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExactDuplicate:
    """A row not archived again: it is a merchant already in the archive."""

    row: int
    name: str
    existing_code: str
    existing_name: str
    matched_on: str  # code / phone / name_address / merged / row
    filled: tuple[str, ...] = ()  # fields the row added to the existing record


@dataclass(frozen=True)
class LikelyDuplicate:
    """A row archived and paired with a similar merchant for review."""

    row: int
    name: str
    code: str
    other_code: str
    other_name: str
    reason: str  # same_name / same_address / similar_name
    score: float


@dataclass
class ArchiveReport(ImportReport):
    """What a bulk archive did (建档结果): the import counts plus the duplicates found."""

    exact: list[ExactDuplicate] = field(default_factory=list)
    likely: list[LikelyDuplicate] = field(default_factory=list)

    @property
    def merged(self) -> int:
        return sum(1 for e in self.exact if e.filled)

    @property
    def skipped(self) -> int:
        return sum(1 for e in self.exact if not e.filled)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.path.name, "dry_run": self.dry_run, "total": self.total,
            "accepted": self.accepted, "rejected": self.rejected, "inserted": self.inserted,
            "merged": self.merged, "skipped": self.skipped, "likely": len(self.likely),
            "reasons": self.reasons,
            "rejects_path": str(self.rejects_path) if self.rejects_path else None,
            "exact": [dataclasses.asdict(e) for e in self.exact],
            "likely_pairs": [dataclasses.asdict(p) for p in self.likely],
        }


# -- the archive as it is ----------------------------------------------------------------------
@dataclass
class _Known:
    """One merchant the rows are compared with: in the archive or accepted above."""

    code: str
    name: str
    identity: Identity
    block: tuple  # (market or org unit): similar names only count inside one block
    customer: Customer | None = None  # None: a new row of this file
    plan: Planned | None = None


class ArchiveIndex:
    """The scoped archive by exact key, by name, by address and by block, plus the merchants
    merged away by earlier reviews (their codes and keys point at the record kept)."""

    def __init__(self, session: Session):
        self.by_key: dict[str, _Known] = {}
        self.by_code: dict[str, _Known] = {}
        self.by_name: dict[str, list[_Known]] = defaultdict(list)
        self.by_address: dict[str, list[_Known]] = defaultdict(list)
        self.by_block: dict[tuple, list[_Known]] = defaultdict(list)
        for c in session.scalars(select(Customer)):
            self.add(_Known(c.code, c.name, Identity.of(c.name, c.address, c.phone),
                            _block(c.market_id, c.org_unit_id), customer=c))
        merged = session.execute(
            select(DuplicateCandidate.other_code, DuplicateCandidate.other_keys,
                   DuplicateCandidate.customer_id)
            .where(DuplicateCandidate.status == DuplicateStatus.MERGED)).all()
        by_id = {k.customer.id: k for k in self.by_code.values() if k.customer is not None}
        self.aliases: dict[str, _Known] = {}
        for code, keys, kept_id in merged:
            kept = by_id.get(kept_id)
            if kept is not None:
                for key in [f"code:{code}", *(keys or [])]:
                    self.aliases[key] = kept

    def add(self, known: _Known) -> None:
        self.by_code[known.code] = known
        for key in known.identity.keys:
            self.by_key.setdefault(key, known)
        if known.identity.name:
            self.by_name[known.identity.name].append(known)
        if known.identity.address:
            self.by_address[known.identity.address].append(known)
        self.by_block[known.block].append(known)

    def exact(self, code: str, identity: Identity) -> tuple[_Known, str] | None:
        """The merchant this row already is, and on what it matched."""
        if code in self.by_code:
            return self.by_code[code], "code"
        if f"code:{code}" in self.aliases:
            return self.aliases[f"code:{code}"], "merged"
        for key in identity.keys:
            if key in self.by_key:
                return self.by_key[key], key.split(":", 1)[0]
        for key in identity.keys:
            if key in self.aliases:
                return self.aliases[key], "merged"
        return None

    def likely(self, identity: Identity, block: tuple) -> list[tuple[_Known, str, float]]:
        """Similar merchants: same name elsewhere, same address with another phone, or a
        similar name in the same market; the best few."""
        found: dict[str, tuple[_Known, str, float]] = {}
        for other in self.by_name.get(identity.name, []):
            found[other.code] = (other, "same_name", 100.0)
        door = identity.address if _has_door_number(identity.address) else None
        for other in self.by_address.get(door, []) if door else []:
            if other.code not in found and other.identity.phone != identity.phone:
                found[other.code] = (other, "same_address",
                                     round(fuzz.ratio(identity.name, other.identity.name), 1))
        for other in self.by_block.get(block, []):
            if other.code in found:
                continue
            score = fuzz.ratio(identity.name, other.identity.name, score_cutoff=SIMILAR_NAME)
            if score:
                found[other.code] = (other, "similar_name", round(score, 1))
        return sorted(found.values(), key=lambda f: -f[2])[:MAX_PAIRS_PER_ROW]


def _has_door_number(address: str) -> bool:
    """A town or street alone (``稍岗镇``) is shared by hundreds of shops; a door number is not."""
    return any(ch.isdigit() for ch in address)


def _block(market_id: int | None, org_unit_id: int | None) -> tuple:
    return ("market", market_id) if market_id is not None else ("unit", org_unit_id)


# -- the bulk archive --------------------------------------------------------------------------
def read_rows(path: Path) -> tuple[list[dict], dict[str, str], int, list[Reject]]:
    """The file's rows as dicts of text (``_row`` = spreadsheet row), its headers, its size and
    the rows that could not be split into cells (rejected with their row, never dropped)."""
    with tempfile.TemporaryDirectory(prefix="jiqun-archive-") as work:
        con = duckdb.connect()
        try:
            src = source.load(con, path, ARCHIVE_FORMAT, Path(work))
            cursor = con.execute("SELECT * FROM src ORDER BY _row")
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        finally:
            con.close()
    return rows, src.headers, src.total + len(src.unreadable), list(src.unreadable)


def _give_codes(rows: list[dict]) -> tuple[list[dict], dict[int, int]]:
    """Derive a code for every row without one; a row identical to one above is dropped here
    (``row → earlier row``) so the importer does not reject it as a repeated code."""
    kept, same_as, seen = [], {}, {}
    for cells in rows:
        if cells.get("code") is None:
            identity = Identity.of(cells.get("name"), cells.get("address"), cells.get("phone"))
            cells["code"] = identity.code(f"{cells.get('market')}|{cells.get('org_unit')}")
            if cells["code"] in seen:
                same_as[cells["_row"]] = seen[cells["code"]]
                continue
            seen[cells["code"]] = cells["_row"]
        kept.append(cells)
    return kept, same_as


def _check_phones(planned: list[Planned], headers: dict[str, str]) -> list[Reject]:
    rejects = []
    for plan in planned:
        phone = plan.fields.get("phone")
        if phone and not 7 <= len(normalise_phone(phone)) <= 12:
            rejects.append(Reject(plan.row, headers.get("phone", "phone"), phone, "bad_phone"))
    return rejects


def _check_scope(session: Session, planned: list[Planned], headers: dict[str, str]) -> list[Reject]:
    scope = session_scope(session)
    if scope is None:
        return []
    return [Reject(p.row, headers.get("org_unit", headers.get("market", "org_unit")),
                   None, "outside_scope")
            for p in planned if not scope.allows(p.fields.get("org_unit_id"))]


def _foreign_codes(session: Session, codes: list[str]) -> set[str]:
    """Codes taken by merchants outside the scope (codes are unique across the organisation)."""
    found: set[str] = set()
    for start in range(0, len(codes), 500):
        chunk = codes[start:start + 500]
        found |= set(session.scalars(select(Customer.code).where(Customer.code.in_(chunk)),
                                     execution_options={"unscoped": True}))
    return found


def _fill(target: dict[str, Any] | Customer, fields: dict[str, Any]) -> tuple[str, ...]:
    """Copy the fields the target lacks; the names filled."""
    filled = []
    for name in FILLABLE:
        value = fields.get(name)
        current = target.get(name) if isinstance(target, dict) else getattr(target, name)
        if value not in (None, [], "") and current in (None, [], ""):
            if isinstance(target, dict):
                target[name] = value
            else:
                setattr(target, name, value)
            filled.append(name)
    return tuple(filled)


def archive_rows(session: Session, planned: list[Planned], *, today: dt.date,
                 source_file: str | None = None) -> tuple[list[ExactDuplicate],
                                                           list[LikelyDuplicate], int]:
    """Compare the accepted rows with the scoped archive and with each other; insert the new
    ones, fill in the exact duplicates, record the likely pairs. Flushes; the caller commits
    (or rolls back for a dry run)."""
    index = ArchiveIndex(session)
    exact, likely, new = [], [], []
    pairs: list[tuple[_Known, _Known, str, float]] = []
    for plan in planned:
        f = plan.fields
        identity = Identity.of(f.get("name"), f.get("address"), f.get("phone"))
        match = index.exact(plan.code, identity)
        if match is not None:
            known, on = match
            filled = _fill(known.plan.fields if known.plan else known.customer, f)
            exact.append(ExactDuplicate(plan.row, f["name"], known.code, known.name, on, filled))
            continue
        block = _block(f.get("market_id"), f.get("org_unit_id"))
        me = _Known(plan.code, f["name"], identity, block, plan=plan)
        for other, reason, score in index.likely(identity, block):
            pairs.append((other, me, reason, score))
            likely.append(LikelyDuplicate(plan.row, f["name"], plan.code, other.code, other.name,
                                          reason, score))
        index.add(me)
        new.append(me)
    for me in new:
        f = me.plan.fields
        me.customer = Customer(code=me.code, archived_on=today,
                               owned_since=today if f.get("owner_id") else None, **f)
        session.add(me.customer)
    session.flush()
    for kept, other, reason, score in pairs:
        session.add(DuplicateCandidate(
            customer_id=kept.customer.id, other_id=other.customer.id, other_code=other.code,
            other_name=other.name, other_keys=other.identity.keys, reason=reason, score=score,
            org_unit_id=other.customer.org_unit_id, source_file=source_file))
    session.flush()
    return exact, likely, len(new)


def archive_file(session: Session, path: str | Path, *, dry_run: bool = False,
                 rejects: str | Path | None = None, locale: str | None = None,
                 today: dt.date | None = None, progress: Progress | None = None,
                 source_name: str | None = None) -> ArchiveReport:
    """Archive the merchants of one CSV/XLSX file through the caller's (scoped) session.

    ``source_name`` names the file in the review list (an upload's own name, not the temporary
    copy's). Commits every good row at once (or rolls back on a dry run or an error). Raises
    :class:`~jiqun.ingest.report.ImportFileError` for a file-level problem (nothing applied).
    """
    require(session, Action.CUSTOMER_ARCHIVE)  # a dry run too: it reads the whole archive
    path = Path(path)
    locale = normalise_locale(locale)
    step = progress or (lambda *_: None)
    report = ArchiveReport(kind="archive", path=path, dry_run=dry_run)
    step("reading", 0, 4)
    rows, headers, report.total, unreadable = read_rows(path)
    rows, same_as = _give_codes(rows)
    step("validating", 1, 4)
    try:
        planned, bad = plan_customers(session, rows, headers, step)
        bad += unreadable + _check_phones(planned, headers) + _check_scope(session, planned, headers)
        taken = _foreign_codes(session, [p.code for p in planned])
        known = set(session.scalars(select(Customer.code).where(Customer.code.in_(taken))))
        bad += [Reject(p.row, headers.get("code", "code"), p.code, "outside_scope")
                for p in planned if p.code in taken - known]
        bad_rows = {r.row for r in bad}
        planned = [p for p in planned if p.row not in bad_rows]
        step("writing", 2, 4)
        exact, likely, inserted = archive_rows(session, planned, today=today or dt.date.today(),
                                               source_file=(source_name or path.name)[:255])
    except BaseException:
        session.rollback()
        raise
    if dry_run:
        session.rollback()
    else:
        session.commit()
    names = {p.row: p.fields["name"] for p in planned}
    for row, earlier in sorted(same_as.items()):
        exact.append(ExactDuplicate(row, names.get(earlier, ""), "", "", "row"))
    report.exact = sorted(exact, key=lambda e: e.row)
    report.likely = likely
    report.rejected = len(bad_rows)
    report.reasons = count_reasons(bad)
    report.accepted = report.total - report.rejected
    report.inserted = inserted
    report.duplicates = len(report.exact)
    report.updated = report.merged
    report.written = 0 if dry_run else inserted + report.merged
    if bad:
        report.rejects_path = Path(rejects) if rejects else default_rejects_path(path)
        write_rejects(report.rejects_path, [(r.row, r.column, r.value, r.reason)
                                            for r in sorted(bad, key=lambda r: r.row)], locale)
    step("done", 4, 4)
    return report


# -- review of likely pairs (疑似重复审核) -----------------------------------------------------
class PairNotOpen(NotFound):
    """No such pair in scope (or one of its records lies outside it)."""


class PairDecided(Conflict):
    """The pair was merged or kept already (by someone else, or by an earlier click)."""

    def __init__(self, pair_id: int, status: str | None = None):
        super().__init__("This pair was decided already; reload the list",
                         theirs={"status": status} if status else None)
        self.pair_id = pair_id


class CannotMerge(Conflict):
    """The record to merge away has shipped with us (its waybills name it): keep both."""

    def __init__(self, pair_id: int):
        super().__init__("This merchant has shipped with us; keep both records.")
        self.pair_id = pair_id


@dataclass(frozen=True)
class PairRow:
    id: int
    status: str
    reason: str
    score: float
    customer_id: int
    code: str
    name: str
    phone: str | None
    address: str | None
    other_id: int | None
    other_code: str
    other_name: str
    other_phone: str | None
    other_address: str | None
    source_file: str | None


def pairs(session: Session, status: str | None = "open", limit: int = 500) -> list[PairRow]:
    """Likely duplicate pairs in scope (both records visible), oldest first."""
    query = select(DuplicateCandidate).order_by(DuplicateCandidate.id).limit(limit)
    if status:
        query = query.where(DuplicateCandidate.status == DuplicateStatus(status))
    out = []
    for pair in session.scalars(query):
        kept = session.get(Customer, pair.customer_id)
        other = session.get(Customer, pair.other_id) if pair.other_id else None
        if kept is None or (pair.other_id and other is None):
            continue  # one side outside the scope
        out.append(PairRow(
            pair.id, pair.status.value, pair.reason, pair.score, kept.id, kept.code, kept.name,
            kept.phone, kept.address, pair.other_id, pair.other_code, pair.other_name,
            other.phone if other else None, other.address if other else None, pair.source_file))
    return out


def _open_pair(session: Session, pair_id: int) -> tuple[DuplicateCandidate, Customer, Customer]:
    pair = session.get(DuplicateCandidate, pair_id)  # scoped: a foreign pair is not found
    if pair is None:
        raise PairNotOpen(pair_id)
    if pair.status != DuplicateStatus.OPEN or pair.other_id is None:
        raise PairDecided(pair_id, pair.status.value)
    kept, other = session.get(Customer, pair.customer_id), session.get(Customer, pair.other_id)
    if kept is None or other is None:
        raise PairNotOpen(pair_id)
    return pair, kept, other


def _decide(pair: DuplicateCandidate, status: DuplicateStatus, user_id: int | None) -> None:
    pair.status = status
    pair.decided_by_id = user_id
    pair.decided_at = dt.datetime.now().replace(microsecond=0)


def _once(session: Session, pair_id: int, decide) -> DuplicateCandidate:
    """Take a decision on a pair once: the pair's version (and the merged records') make a
    second, concurrent decision fail at the flush; it is answered as a conflict."""
    require(session, Action.DUPLICATE_DECIDE)
    try:
        return decide()
    except StaleDataError:  # decided by someone else between our read and our write
        raise PairDecided(pair_id) from None


def keep_pair(session: Session, pair_id: int, user_id: int | None) -> DuplicateCandidate:
    """Two different merchants after all (不是重复): the pair is closed, both records stay."""

    def keep() -> DuplicateCandidate:
        pair, _, _ = _open_pair(session, pair_id)
        _decide(pair, DuplicateStatus.KEPT, user_id)
        session.flush()
        return pair

    return _once(session, pair_id, keep)


def _move_children(session: Session, kept: Customer, other: Customer) -> None:
    """Visits, stage changes, trials, carriers, prices and reminders of ``other`` → ``kept``
    (each an audited change); campaign memberships too."""
    for model in (Visit, StageChange, TrialShipment, CustomerCarrier, RateCard, PriceContract):
        for row in session.scalars(select(model).where(model.customer_id == other.id)):
            row.customer_id = kept.id
    for note in session.scalars(select(Notification).where(Notification.customer_id == other.id)):
        session.delete(note)  # reminders about a record that no longer exists
    campaigns = set(session.scalars(select(CampaignCustomer.campaign_id)
                                    .where(CampaignCustomer.customer_id == kept.id)))
    moved = set(session.scalars(select(CampaignCustomer.campaign_id)
                                .where(CampaignCustomer.customer_id == other.id))) - campaigns
    session.execute(delete(CampaignCustomer).where(CampaignCustomer.customer_id == other.id))
    if moved:
        session.execute(insert(CampaignCustomer),
                        [{"campaign_id": c, "customer_id": kept.id} for c in moved])


def merge_pair(session: Session, pair_id: int, user_id: int | None) -> DuplicateCandidate:
    """Fold the newer record into the one kept (合并): its missing fields filled in, visits and
    history moved over, the newer record deleted; the pair remembers its code and keys so the
    same file archived again is recognised."""
    return _once(session, pair_id, lambda: _merge(session, pair_id, user_id))


def _merge(session: Session, pair_id: int, user_id: int | None) -> DuplicateCandidate:
    pair, kept, other = _open_pair(session, pair_id)
    if other.first_shipped_on is not None:
        raise CannotMerge(pair_id)
    _fill(kept, {name: getattr(other, name) for name in FILLABLE})
    _move_children(session, kept, other)
    for sibling in session.scalars(select(DuplicateCandidate).where(
            DuplicateCandidate.id != pair.id,
            (DuplicateCandidate.customer_id == other.id) | (DuplicateCandidate.other_id == other.id))):
        # Other pairs of the merged record: now about the kept one, or moot when it is itself.
        if sibling.customer_id == other.id:
            sibling.customer_id = kept.id
        if sibling.other_id == other.id:
            sibling.other_id = kept.id
        if sibling.customer_id == sibling.other_id:
            _decide(sibling, DuplicateStatus.MERGED, user_id)
            sibling.other_id = None
    pair.other_id = None
    pair.other_keys = sorted(set(pair.other_keys or []) | set(
        Identity.of(other.name, other.address, other.phone).keys))
    _decide(pair, DuplicateStatus.MERGED, user_id)
    session.flush()
    session.delete(other)
    session.flush()
    return pair


def open_pair_count(session: Session) -> int:
    """Likely duplicates waiting for review in scope (for a badge)."""
    return len(pairs(session, "open"))


__all__ = [
    "ARCHIVE_FORMAT", "ArchiveReport", "CannotMerge", "ExactDuplicate", "Identity",
    "ImportFileError", "LikelyDuplicate", "PairDecided", "PairNotOpen", "PairRow", "archive_file", "keep_pair",
    "merge_pair", "normalise_address", "normalise_phone", "normalise_text", "pairs",
]
