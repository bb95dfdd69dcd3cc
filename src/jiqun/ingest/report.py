"""What an import did (:class:`ImportReport`), rejected rows and the reject report CSV."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from jiqun.cells import spreadsheet_safe
from jiqun.errors import Conflict
from jiqun.i18n import translator

RejectLine = tuple[int, str, str | None, str]  # row, column, value, reason code

# Reason codes → English message ids (translated through ``locale/zh_CN/ingest.po``).
REASONS: dict[str, str] = {
    "required": "a value is required",
    "bad_datetime": "not a date and time (e.g. 2024-06-18 09:30:00)",
    "bad_date": "not a date (e.g. 2024-06-18)",
    "not_a_number": "not a number",
    "not_positive": "must be greater than zero",
    "negative": "must not be negative",
    "bad_bool": "not yes or no (是/否)",
    "bad_coordinate": "not a valid longitude/latitude",
    "duplicate_in_file": "the same code appears earlier in this file",
    "unknown_customer": "unknown customer code",
    "unknown_outlet": "unknown outlet code",
    "unknown_facility": "unknown facility code",
    "unknown_line": "unknown dedicated line code",
    "unknown_product": "unknown product (特快/快包/标快, express/parcel/standard)",
    "unknown_platform": "unknown platform (淘系/拼系/直播/其他, taobao/pdd/live/other)",
    "unknown_status": "unknown waybill status",
    "unknown_event": "unknown event (揽收/发出/到达/派送/投递失败/入柜/妥投/异常/退回)",
    "unknown_market_type": "unknown market type",
    "unknown_stage": "unknown lifecycle stage",
    "unknown_tier": "unknown customer tier",
    "unknown_org_unit": "unknown org unit code",
    "unknown_market": "unknown market code",
    "unknown_grid": "unknown grid code",
    "unknown_user": "unknown username",
    "unknown_place": "unknown place",
    "missing_destination": "destination missing (province/city or address)",
    "unknown_destination": "destination not found (check province/city/county or address)",
    "no_org_unit": "cannot tell which org unit owns this row (give a customer or outlet code)",
    "unknown_waybill": "unknown waybill and no facility code: import the waybill first",
    "delivered_before_shipped": "delivered before it was shipped",
    "outside_scope": "org unit outside your scope",
    "code_outside_scope": "this code belongs to a record outside your part of the organisation",
    "bad_phone": "not a phone number (7 to 12 digits)",  # bulk archive (jiqun.sales.archive)
    # rate cards (jiqun.money.cards)
    "unknown_origin": "unknown origin (市场/区县/省/客户, market/county/province/customer)",
    "unknown_zone": "unknown zone (省内/邻省/跨省/偏远, same/neighbour/far/remote)",
    "bad_weight_band": "the weight band is empty: its upper weight must exceed its lower one",  # 截止重量 > 起始重量
    "origin_mismatch": "the origin's unit is missing or not of that kind",
    "card_rows_disagree": "this card version's rows disagree on name, origin, product or surcharges",
    "card_differs": "a card of this code exists with another origin or product",
    "version_in_force": "a version from this date is in force already and is never edited: "
                        "give a new start date",
    "with_its_card": "another row of the same card version was rejected",
    # physical range (jiqun.ingest.checks)
    "not_finite": "not a finite number (NaN or infinity)",
    "weight_too_high": "more than 1,000 kg: not the weight of one parcel",
    "fee_too_high": "more than ¥100,000: not the fee of one waybill",
    "date_out_of_range": "outside the years 2000 to 2100",
    "in_the_future": "more than a day after the import: a time in the future",
    # rows that cannot be split into cells (jiqun.ingest.source)
    "too_few_fields": "the row has fewer cells than the header (a short row)",
    "too_many_fields": "the row has more cells than the header (a stray separator?)",
    "unbalanced_quote": "a quote (\") opened in this row is never closed",
    "bad_encoding": "characters that cannot be read in the file's encoding",
}


@dataclass(frozen=True)
class Reject:
    """One problem of one row: spreadsheet row number (header = 1), column header, value, reason code."""

    row: int
    column: str
    value: str | None
    reason: str


@dataclass
class ImportReport:
    """The outcome of one import (导入结果)."""

    kind: str
    path: Path
    total: int = 0  # data rows in the file (blank rows not counted)
    accepted: int = 0  # rows that passed validation
    rejected: int = 0  # rows with at least one problem
    duplicates: int = 0  # accepted rows that changed nothing (already in the lake / unchanged)
    written: int = 0  # rows inserted or updated (0 on a dry run)
    inserted: int = 0
    updated: int = 0
    dry_run: bool = False
    rejects_path: Path | None = None
    reasons: dict[str, int] = field(default_factory=dict)  # reason code → problems
    # Every reject line in row order (the reject report's rows, with reason codes).
    reject_lines: list[RejectLine] = field(default_factory=list, repr=False)
    # What the import found (see ``outcome_fingerprint``): a commit that expects the dry run's
    # fingerprint applies exactly what the dry run showed, or nothing.
    fingerprint: str = ""

    @property
    def unchanged(self) -> int:
        """Accepted rows that change nothing: identical to the store, or already in the lake."""
        return self.duplicates

    @property
    def exit_code(self) -> int:
        """0: every row accepted; 1: some rows rejected (the good ones committed)."""
        return 1 if self.rejected else 0


class ImportFileError(Exception):
    """A file-level problem: nothing of the file was applied (exit code 2)."""

    def __init__(self, message: str, **values):
        super().__init__(message.format(**values) if values else message)
        self.msgid, self.values = message, values

    def message(self, locale: str | None = None) -> str:
        t = translator(locale or "zh-CN")
        values = {k: v.message(locale) if isinstance(v, ImportFileError)
                  else t(v) if isinstance(v, Msg) else v for k, v in self.values.items()}
        return t(self.msgid, **values)


class Msg(str):
    """A value of an :class:`ImportFileError` that is itself a msgid (a kind's label, a hint):
    translated with the message, in the reader's language."""


class ImportChanged(Conflict):
    """The file's outcome is no longer what its dry run showed (someone changed the data in
    between, or a time passed into "the future" bound): nothing was applied. ``report`` is the
    fresh dry run, so the caller can show what a commit would do now."""

    def __init__(self, report: ImportReport, expected: str):
        super().__init__("The data changed since the dry run: check the new counts and import "
                         "again", mine={"fingerprint": expected},
                         theirs={"fingerprint": report.fingerprint})
        self.report = report
        self.outcome = None  # an upload's fresh dry run (jiqun.ingest.uploads.commit_upload)


def outcome_fingerprint(report: ImportReport, file_digest: str) -> str:
    """A digest of the file and of everything its import would do: the counts and every reject
    line. Equal fingerprints mean the same rows are added, changed, left alone and rejected."""
    digest = hashlib.sha256(json.dumps([
        report.kind, file_digest, report.total, report.inserted, report.updated,
        report.duplicates, report.rejected]).encode())
    for line in report.reject_lines:
        digest.update(json.dumps(line, ensure_ascii=False, default=str).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:32]


def reason_text(code: str, locale: str | None) -> str:
    return translator(locale or "zh-CN")(REASONS.get(code, code))


def count_reasons(rejects: Iterable[Reject]) -> dict[str, int]:
    return dict(Counter(r.reason for r in rejects))


def default_rejects_path(source: Path) -> Path:
    return source.with_name(source.name + ".rejects.csv")


def write_rejects(path: Path, rows: Iterable[tuple[int, str, str | None, str]], locale: str | None) -> None:
    """Write the reject report: row, column, value, reason (in the user's language).

    UTF-8 with a byte-order mark so that Excel opens the Chinese text correctly.
    """
    t = translator(locale or "zh-CN")
    texts: dict[str, str] = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([t("row"), t("column"), t("value"), t("reason")])
        for row, column, value, reason in rows:
            if reason not in texts:
                texts[reason] = reason_text(reason, locale)
            writer.writerow([row, column, "" if value is None else spreadsheet_safe(value),
                             texts[reason]])
