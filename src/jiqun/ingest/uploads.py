"""Uploads of import files (上传导入): dry run first, then commit exactly what it showed.

The upload page (``/import``) and its ``/api`` twin call these functions; the importer itself is
:func:`jiqun.ingest.api.import_file`, so a file gives the same counts and rejects on the page,
through the API and with ``jiqun import --dry-run``.

**The page keeps the file on the server between the dry run and the commit** (an
:class:`UploadShelf`), rather than asking for it again: a browser cannot send a file a second
time unless the person picks it again — and may then pick another file, or a newer version of
the same one — and a large waybill file would travel twice. An upload is

* streamed to disk 1 MiB at a time (never held in memory whole) into a folder of its own named
  by a random token (32 bytes from :mod:`secrets`), and refused past its kind's size limit
  (:mod:`jiqun.ingest.kinds`) while it arrives;
* the uploader's alone: for anyone else the token does not exist;
* kept for :data:`UPLOAD_TTL` at most (and a user's :data:`UPLOADS_PER_USER` latest), removed
  on the next upload after that;
* used once: a commit claims the file by an atomic rename, so a second click (or a second tab)
  finds nothing to commit.

The commit runs the import again with the dry run's **fingerprint** (the file's digest and
every count and reject line of its outcome): when the store or the lake changed in between so
that the file would now do anything else, nothing is applied and the answer is a 409 with the
fresh dry run (:class:`~jiqun.ingest.report.ImportChanged`). Scripts (``/api/import/{kind}``)
send the file again with the fingerprint of their own dry run: the same guarantee, no state
on the server.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

from jiqun.ingest.api import import_file
from jiqun.ingest.kinds import IMPORT_KINDS, MIB, ImportKind
from jiqun.ingest.report import ImportChanged, ImportFileError, ImportReport, Msg, RejectLine
from jiqun.ingest.source import EXCEL_SUFFIXES, map_headers, read_header
from jiqun.permissions import Action, Actor, require
from jiqun.store.db import Store
from jiqun.store.scope import Scope

UPLOAD_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods")
MAX_WORKBOOK_BYTES = 20 * MIB  # calamine holds a sheet in memory: 20 MB is ~200k rows
UPLOAD_TTL = dt.timedelta(hours=1)
UPLOADS_PER_USER = 5
SHOWN_REJECTS = 50  # reject lines on the page and in the answer; the download has all
API_REJECTS = 1000
CHUNK = 1 << 20
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
_HEADER_PROBLEMS = ("unknown columns: {columns}", "missing required columns: {columns}",
                    "one of these columns is required: {columns}")
_ENCODING_HINT = ("check the kind, and save the file as CSV (UTF-8 or GBK) or XLSX with the "
                  "template's header row")


class UploadTooLarge(ImportFileError):
    """The upload is larger than its kind allows (answered 413)."""


class UploadGone(LookupError):
    """No such upload for this user: expired, already imported, or someone else's (404)."""


@dataclass
class UploadOutcome:
    """What an upload's dry run showed, or what its commit did."""

    kind: str
    file_name: str
    dry_run: bool
    total: int  # data rows in the file
    added: int  # rows inserted (a dry run: that would be)
    changed: int  # rows that update a record (store kinds)
    unchanged: int  # rows identical to the store, or already in the lake
    rejected: int
    written: int
    reasons: dict[str, int]  # reason code → problems
    fingerprint: str
    reject_count: int  # reject lines (a row may have several)
    rejects: list[RejectLine] = field(default_factory=list)  # the first ones
    token: str | None = None  # the shelved upload (pages)

    @property
    def to_commit(self) -> int:
        """Rows a commit would write."""
        return self.added + self.changed

    @classmethod
    def of(cls, report: ImportReport, file_name: str, shown: int = SHOWN_REJECTS,
           token: str | None = None) -> UploadOutcome:
        return cls(
            kind=report.kind, file_name=file_name, dry_run=report.dry_run, total=report.total,
            added=report.inserted, changed=report.updated, unchanged=report.duplicates,
            rejected=report.rejected, written=report.written, reasons=dict(report.reasons),
            fingerprint=report.fingerprint, reject_count=len(report.reject_lines),
            rejects=[tuple(r) for r in report.reject_lines[:shown]], token=token,
        )


# -- the shelf ----------------------------------------------------------------------------------
@dataclass
class Shelved:
    """One upload on the shelf: its folder, and what is known of it (``meta.json``)."""

    token: str
    folder: Path
    meta: dict

    @property
    def kind(self) -> ImportKind:
        return IMPORT_KINDS[self.meta["kind"]]

    @property
    def file_name(self) -> str:
        return self.meta["file_name"]

    @property
    def path(self) -> Path:
        return self.folder / ("upload" + self.meta["suffix"])

    @property
    def outcome(self) -> UploadOutcome | None:
        found = self.meta.get("outcome")
        if found is None:
            return None
        return UploadOutcome(**{**found, "rejects": [tuple(r) for r in found["rejects"]]})

    def save(self, outcome: UploadOutcome, report: ImportReport) -> None:
        """Keep the outcome and every reject line (with reason codes: the download is written
        in the reader's language when it is asked for)."""
        with open(self.folder / "rejects.csv", "w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows(report.reject_lines)
        self.meta["outcome"] = asdict(outcome)
        _write_json(self.folder / "meta.json", self.meta)

    def reject_lines(self) -> list[RejectLine]:
        try:
            with open(self.folder / "rejects.csv", encoding="utf-8", newline="") as fh:
                return [(int(row), column, value or None, reason)
                        for row, column, value, reason in csv.reader(fh)]
        except FileNotFoundError:
            return []


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def upload_suffix(file_name: str | None) -> str:
    """The upload's extension, if it is one the importer reads; else a file-level error."""
    suffix = Path(file_name or "").suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise ImportFileError("upload a CSV or XLSX file (.csv, .xlsx; also .txt, .tsv, .xls, "
                              ".xlsm, .ods)")
    return suffix


def _shown_name(file_name: str | None) -> str:
    return (Path(file_name or "upload").name.strip() or "upload")[:200]


class UploadShelf:
    """Uploads kept between their dry run and their commit, one folder per token under
    ``root`` (on disk, so every server process of one installation sees them)."""

    def __init__(self, root: Path, ttl: dt.timedelta = UPLOAD_TTL,
                 per_user: int = UPLOADS_PER_USER, clock: Callable[[], dt.datetime] = _now):
        self.root, self.ttl, self.per_user, self.clock = Path(root), ttl, per_user, clock

    def receive(self, stream: BinaryIO, file_name: str | None, kind: ImportKind,
                user_id: int | None) -> Shelved:
        """Put an upload on the shelf under a new token (streamed, size-limited)."""
        suffix = upload_suffix(file_name)
        self.purge(keep_for=user_id)
        token = secrets.token_urlsafe(32)
        folder = self.root / token
        folder.mkdir(parents=True, mode=0o700)
        meta = {"user_id": user_id, "kind": kind.name, "file_name": _shown_name(file_name),
                "suffix": suffix, "created": self.clock().isoformat()}
        shelved = Shelved(token, folder, meta)
        try:
            meta["size"] = _stream_kind(shelved.path, stream, kind)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        _write_json(folder / "meta.json", meta)
        return shelved

    def get(self, token: str, user_id: int) -> Shelved:
        """The user's own, unexpired upload ``token``; else :class:`UploadGone`."""
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise UploadGone(token)
        folder = self.root / token
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            raise UploadGone(token) from None
        if meta.get("user_id") != user_id or self._expired(meta) \
                or meta.get("kind") not in IMPORT_KINDS:
            raise UploadGone(token)
        return Shelved(token, folder, meta)

    def claim(self, shelved: Shelved) -> Path:
        """Take the file for a commit (atomically: a second claim finds none)."""
        claimed = shelved.folder / "claimed"
        claimed.mkdir(exist_ok=True)
        target = claimed / shelved.path.name
        try:
            os.rename(shelved.path, target)
        except FileNotFoundError:
            raise UploadGone(shelved.token) from None
        return target

    def put_back(self, shelved: Shelved, claimed: Path) -> None:
        os.rename(claimed, shelved.path)

    def _expired(self, meta: dict) -> bool:
        try:
            created = dt.datetime.fromisoformat(meta["created"])
        except (KeyError, TypeError, ValueError):
            return True
        return self.clock() - created > self.ttl

    def purge(self, keep_for: int | None = None) -> None:
        """Remove expired uploads, and ``keep_for``'s oldest beyond :data:`UPLOADS_PER_USER` − 1
        (room for the one arriving)."""
        if not self.root.is_dir():
            return
        mine: list[tuple[str, Path]] = []
        for folder in self.root.iterdir():
            if not folder.is_dir() or not _TOKEN.match(folder.name):
                continue
            try:
                meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            except (FileNotFoundError, json.JSONDecodeError):
                meta = None
            if meta is None:
                stale = self.clock().timestamp() - folder.stat().st_mtime > self.ttl.total_seconds()
                if stale:  # an upload cut short long ago
                    shutil.rmtree(folder, ignore_errors=True)
                continue
            if self._expired(meta):
                shutil.rmtree(folder, ignore_errors=True)
            elif meta.get("user_id") == keep_for:
                mine.append((meta.get("created", ""), folder))
        for _, folder in sorted(mine)[:max(0, len(mine) - self.per_user + 1)]:
            shutil.rmtree(folder, ignore_errors=True)


def upload_limit(kind: ImportKind, suffix: str) -> int:
    """The most bytes an upload may have: the kind's limit, and for a workbook at most
    :data:`MAX_WORKBOOK_BYTES` (a workbook is read into memory whole; a CSV is streamed)."""
    return kind.max_upload_bytes if suffix not in EXCEL_SUFFIXES \
        else min(kind.max_upload_bytes, MAX_WORKBOOK_BYTES)


def _stream_kind(target: Path, stream: BinaryIO, kind: ImportKind) -> int:
    """Copy ``stream`` to ``target`` 1 MiB at a time, refused past its limit while it arrives."""
    limit = upload_limit(kind, target.suffix)
    size = 0
    with open(target, "wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                if limit < kind.max_upload_bytes:
                    raise UploadTooLarge("a workbook may be at most {mib} MB: save it as CSV "
                                         "(up to {csv} MB)", mib=limit // MIB,
                                         csv=kind.max_upload_bytes // MIB)
                raise UploadTooLarge(
                    "the file is larger than {mib} MB, the most an upload of {kind} may be: "
                    "split it, or import it with jiqun import",
                    mib=limit // MIB, kind=Msg(kind.label))
            out.write(chunk)
    if size == 0:
        raise ImportFileError("the file is empty")
    return size


# -- the service --------------------------------------------------------------------------------
def kind_of(name: str) -> ImportKind:
    """The registry entry of ``name``; a file-level error for an unknown kind."""
    found = IMPORT_KINDS.get(name) if isinstance(name, str) else None
    if found is None:
        raise ImportFileError("unknown import kind {kind}", kind=str(name)[:40])
    return found


def guess_kind(path: Path, given: str) -> str | None:
    """Another kind whose columns the file's header has (someone chose the wrong kind)."""
    header = read_header(path)
    if not header:
        return None
    for name, kind in IMPORT_KINDS.items():
        if name == given:
            continue
        try:
            map_headers(header, kind.format)
        except ImportFileError:
            continue
        return name
    return None


def _run(kind: ImportKind, path: Path, store: Store, lake: Path, *, actor: Actor,
         scope: Scope | None, locale: str, dry_run: bool, expect: str | None) -> ImportReport:
    """``import_file`` for an upload: its row limit, no reject file beside it, and a file-level
    error that says what to do when the header is another kind's or unreadable."""
    try:
        report = import_file(kind.name, path, store, lake, dry_run=dry_run, locale=locale,
                             actor=actor, scope=scope, expect=expect,
                             max_rows=kind.max_upload_rows, report_file=False)
    except ImportFileError as exc:
        if exc.msgid not in _HEADER_PROBLEMS:
            raise
        other = guess_kind(path, kind.name)
        if other is not None:
            raise ImportFileError("these are the columns of a file of {other}, not of {kind}: "
                                  "choose {other}", other=Msg(IMPORT_KINDS[other].label),
                                  kind=Msg(kind.label)) from exc
        raise ImportFileError("{problem} ({hint})", problem=exc, hint=Msg(_ENCODING_HINT)) \
            from exc
    if report.total == 0:
        raise ImportFileError("the file has a header but no rows of data")
    return report


def check_upload(shelf: UploadShelf, stream: BinaryIO, file_name: str | None, kind_name: str,
                 store: Store, lake: Path, *, actor: Actor, scope: Scope | None,
                 locale: str) -> UploadOutcome:
    """Shelve an upload and dry-run it: what a commit would add, change, leave and reject."""
    require(actor, Action.DATA_IMPORT)
    kind = kind_of(kind_name)
    require(actor, kind.action)  # before the file is stored
    shelved = shelf.receive(stream, file_name, kind, actor.user_id)
    try:
        report = _run(kind, shelved.path, store, lake, actor=actor, scope=scope, locale=locale,
                      dry_run=True, expect=None)
    except BaseException:
        shutil.rmtree(shelved.folder, ignore_errors=True)  # nothing to commit later
        raise
    outcome = UploadOutcome.of(report, shelved.file_name, token=shelved.token)
    shelved.save(outcome, report)
    return outcome


def commit_upload(shelf: UploadShelf, token: str, store: Store, lake: Path, *, actor: Actor,
                  scope: Scope | None, locale: str) -> UploadOutcome:
    """Apply the shelved upload ``token`` exactly as its dry run showed, or nothing.

    :class:`UploadGone` when the token is not the user's live upload (expired, imported
    already); :class:`~jiqun.ingest.report.ImportChanged` (409) when the outcome changed — the
    upload then stays on the shelf with the fresh dry run, to be committed again."""
    require(actor, Action.DATA_IMPORT)
    shelved = shelf.get(token, actor.user_id)
    expected = shelved.outcome
    if expected is None:
        raise UploadGone(token)
    claimed = shelf.claim(shelved)
    try:
        report = _run(shelved.kind, claimed, store, lake, actor=actor, scope=scope,
                      locale=locale, dry_run=False, expect=expected.fingerprint)
    except ImportChanged as changed:
        shelf.put_back(shelved, claimed)
        fresh = UploadOutcome.of(changed.report, shelved.file_name, token=token)
        shelved.save(fresh, changed.report)
        changed.outcome = fresh
        raise
    except BaseException:
        shelf.put_back(shelved, claimed)
        raise
    claimed.unlink(missing_ok=True)  # used: the rejects stay for the download until expiry
    outcome = UploadOutcome.of(report, shelved.file_name, token=token)
    shelved.save(outcome, report)
    return outcome


def import_upload(stream: BinaryIO, file_name: str | None, kind_name: str, store: Store,
                  lake: Path, *, actor: Actor, scope: Scope | None, locale: str, dry_run: bool,
                  expect: str | None = None, work: Path | None = None) -> UploadOutcome:
    """One upload from a script, nothing kept: a dry run, or a commit (``expect``: the
    fingerprint of the script's dry run of the same file, else whatever the file does now)."""
    require(actor, Action.DATA_IMPORT)
    kind = kind_of(kind_name)
    require(actor, kind.action)
    suffix = upload_suffix(file_name)
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jiqun-upload-", dir=work) as folder:
        path = Path(folder) / ("upload" + suffix)
        _stream_kind(path, stream, kind)
        report = _run(kind, path, store, lake, actor=actor, scope=scope, locale=locale,
                      dry_run=dry_run, expect=expect)
    return UploadOutcome.of(report, _shown_name(file_name), shown=API_REJECTS)


def template_header(kind_name: str) -> list[str]:
    """The header row of a kind's template: every column, in Chinese as the templates write
    them (English names are accepted as well)."""
    return [c.zh for c in kind_of(kind_name).format.columns]
