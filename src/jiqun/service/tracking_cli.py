"""``jiqun parcel WAYBILL_NO``: one parcel's timeline on the command line (邮件跟踪).

Acts as ``--user`` (``jiqun.cli_actor``): a waybill outside the user's subtree is "not found",
exactly as on the page. ``--format table`` prints the state, the waybill and the scans;
``json`` the same object as ``GET /api/parcels/{waybill_no}``; ``csv`` the scans.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Annotated

import typer

from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.config import get_settings
from jiqun.i18n import translator
from jiqun.output import Format, emit

FormatOpt = Annotated[Format, typer.Option("--format", help="table|json|csv")]


def parcel_command(
    waybill_no: Annotated[str, typer.Argument(help="The waybill number (运单号).")],
    user: UserOpt = None, scope: ScopeOpt = None, fmt: FormatOpt = Format.TABLE,
) -> None:
    """A parcel's state, its cause and who is responsible, and its scans in time order."""
    from jiqun.lake import connect
    from jiqun.service.tracking import timeline

    settings = get_settings()
    who = acting(user, scope)
    with refusals(), who.session() as session:
        found = timeline(connect(settings), settings.lake_path, session.info["scope"],
                         waybill_no.strip(), session=session)
    if fmt is Format.JSON:
        json.dump(dataclasses.asdict(found), sys.stdout, ensure_ascii=False, indent=1,
                  default=str)
        sys.stdout.write("\n")
        return
    t = translator(settings.locale)
    scans = [{"time": s.at, "scan": t(s.label), "place": s.place or s.location,
              "note": s.note, "cause": t(_reason_label(s.reason)) if s.reason else None,
              "counted": s.counted} for s in found.state.scans]
    if fmt is Format.CSV:
        emit(scans, fmt)
        return
    emit([_summary(found, t)], fmt, found.waybill.waybill_no)
    emit(scans, fmt, t("Scans"))


def _reason_label(code: str) -> str:
    from jiqun.service.reasons import reason

    return reason(code).label


def _summary(found, t) -> dict:
    from jiqun.service.reasons import RESPONSIBILITY_LABELS

    s, w = found.state, found.waybill
    return {"state": t(s.label), "since": s.since,
            "cause": t(s.reason_label) if s.reason_label else None,
            "responsible": t(RESPONSIBILITY_LABELS[s.responsibility]) if s.responsibility
            else None,
            "customer": w.customer_name, "product": t(w.product), "shipped": w.ship_time,
            "destination": w.destination, "weight_kg": w.weight_kg,
            "exceptions": len(found.exceptions)}
