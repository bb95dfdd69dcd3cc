"""Messages of the proactive contact (主动联系) with a merchant, in Chinese, the facts filled in.

The service agent picks a template on the case page (or ``jiqun service contact --template``);
the message is prefilled from the case's parcels — waybill numbers, where they stand, the reason,
the promised time, the agent's name and phone — and can be edited before it is logged. The
merchant reads Chinese whatever the agent's UI language, so the bodies are data in Chinese; their
names (``label``) are English msgids translated on the page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from jiqun.store.models import ExceptionKind


@dataclass(frozen=True)
class Template:
    code: str
    label: str  # English msgid of the template's name
    body: str  # Chinese; {unit} {customer} {waybills} {count} {place} {reason} {promised}
    #            {agent} {phone}


TEMPLATES: tuple[Template, ...] = (
    Template("delay", "Delay apology",
             "【{unit}】{customer}您好：您的{count}件快件（{waybills}）在{place}停留时间较长，"
             "我们已安排加急处理，原承诺{promised}送达，给您带来不便敬请谅解。"
             "如有疑问请联系客服{agent}（{phone}）。"),
    Template("search", "Parcel being searched",
             "【{unit}】{customer}您好：您的{count}件快件（{waybills}）在运输途中缺少扫描记录，"
             "我们正在全力查找，将尽快给您答复；如确认遗失，将按规定为您办理理赔。"
             "客服{agent}（{phone}）。"),
    Template("redeliver", "Failed delivery, redelivery",
             "【{unit}】{customer}您好：您的{count}件快件（{waybills}）投递未成功（原因：{reason}），"
             "请协助确认收件人电话与地址，我们将安排再次投递。客服{agent}（{phone}）。"),
    Template("returned", "Parcel returned, your decision",
             "【{unit}】{customer}您好：您的{count}件快件（{waybills}）已被退回（原因：{reason}），"
             "请告知处理方式：重新派送或退回寄件人。客服{agent}（{phone}）。"),
    Template("locker", "Uncollected at the locker",
             "【{unit}】{customer}您好：您的{count}件快件（{waybills}）已存入快递柜或驿站，"
             "收件人尚未取件，请提醒收件人及时取件。客服{agent}（{phone}）。"),
    Template("progress", "Progress update",
             "【{unit}】{customer}您好：关于您的{count}件快件（{waybills}）的异常，"
             "我们正在处理中，有进展将第一时间通知您。客服{agent}（{phone}）。"),
)
BY_CODE = {t.code: t for t in TEMPLATES}
DEFAULT_FOR_KIND = {
    ExceptionKind.STALLED: "delay", ExceptionKind.LATE: "delay",
    ExceptionKind.MISSING_SCAN: "search", ExceptionKind.LOST: "search",
    ExceptionKind.FAILED_DELIVERY: "redeliver", ExceptionKind.RETURNED: "returned",
    ExceptionKind.LOCKER_UNCOLLECTED: "locker",
}
WAYBILLS_SHOWN = 3


@dataclass(frozen=True)
class ParcelFacts:
    """What a message says of a case: its merchant, parcels and agent."""

    unit: str  # the org unit that serves the merchant (e.g. 商丘市分公司)
    customer: str
    waybills: tuple[str, ...]
    place: str | None = None  # the facility where the parcels stand
    reason: str | None = None  # Chinese label of the reason
    promised: dt.datetime | None = None
    agent: str = ""
    phone: str | None = None


def waybill_list(waybills: tuple[str, ...]) -> str:
    shown = "、".join(waybills[:WAYBILLS_SHOWN])
    return shown + (f"等{len(waybills)}件" if len(waybills) > WAYBILLS_SHOWN else "")


def render(template_code: str, facts: ParcelFacts) -> str:
    """The message of ``template_code`` with the facts filled in (KeyError: unknown code)."""
    template = BY_CODE[template_code]
    promised = facts.promised.strftime("%m月%d日%H时") if facts.promised else "预定时间"
    return template.body.format(
        unit=facts.unit, customer=facts.customer or "客户", waybills=waybill_list(facts.waybills),
        count=len(facts.waybills), place=facts.place or "中转环节", reason=facts.reason or "待核实",
        promised=promised, agent=facts.agent or "客服专员", phone=facts.phone or "客服热线")
