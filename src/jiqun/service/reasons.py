"""Exception reasons (异常原因), normalised, and who is responsible for each (责任方).

A scan's free-text note (``地址不详``) becomes a reason code (``address_unknown``) and the party
responsible for it; the tracking state machine, the exception detector, the service queue and
their pages all read this one table.
"""

from __future__ import annotations

from dataclasses import dataclass

from jiqun.store.models import Responsibility


@dataclass(frozen=True)
class Reason:
    code: str
    responsibility: Responsibility
    label: str  # English msgid
    notes: tuple[str, ...]  # the notes scanners write for it (Chinese, as in the field)


R = Responsibility
REASONS: tuple[Reason, ...] = (
    Reason("address_unknown", R.SHIPPER, "Address incomplete or unknown", ("地址不详", "地址错误")),
    Reason("damaged", R.CARRIER, "Packaging damaged", ("包装破损", "破损")),
    Reason("refused", R.RECIPIENT, "Refused by the recipient", ("收件人拒收", "拒收")),
    Reason("unreachable", R.RECIPIENT, "Recipient unreachable", ("联系不上收件人", "电话无人接听")),
    Reason("missorted", R.CARRIER, "Missorted", ("错分", "分拣错误")),
    Reason("held_at_hub", R.CARRIER, "Held at a hub", ("滞留",)),
    Reason("weather", R.FORCE_MAJEURE, "Weather or force majeure", ("天气", "不可抗力", "暴雨", "大雪")),
    # A parcel the network cannot find (an exception scan saying so, or one silent too long:
    # jiqun.service.tracking.LOST_AFTER): the carrier held it last.
    Reason("lost", R.CARRIER, "Lost in the network", ("丢失", "遗失", "丢件")),
)
UNKNOWN = Reason("unknown", R.UNKNOWN, "Reason unknown", ())
# Labels the pages translate (English msgids; tests/test_catalogs.py finds tables named *LABELS).
REASON_LABELS = {r.code: r.label for r in (*REASONS, UNKNOWN)}
RESPONSIBILITY_LABELS = {
    R.CARRIER.value: "Carrier", R.SHIPPER.value: "Shipper", R.RECIPIENT.value: "Recipient",
    R.FORCE_MAJEURE.value: "Force majeure", R.UNKNOWN.value: "Unknown",
}
_BY_NOTE = {note: reason for reason in REASONS for note in reason.notes}
_BY_CODE = {reason.code: reason for reason in REASONS}


def reason_of_note(note: str | None) -> Reason:
    """The reason a scan's note names (exact note first, then a known note inside the text)."""
    if not note:
        return UNKNOWN
    text = note.strip()
    if text in _BY_NOTE:
        return _BY_NOTE[text]
    return next((r for n, r in _BY_NOTE.items() if n in text), UNKNOWN)


def reason(code: str) -> Reason:
    return _BY_CODE.get(code, UNKNOWN)
