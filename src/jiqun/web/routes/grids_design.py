"""Grid design page (网格调整) for city managers: draft, compare, approve, activate.

``/grids/design?market_id=…`` shows the current grids beside the latest draft; the forms POST
(with the CSRF token) through the request's scoped session, so every write is audited with the
user and ``web``. The JSON twin is ``/api/grids/design``.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select

from jiqun.planning import grid_store
from jiqun.planning.grids import DEFAULT_TOLERANCE
from jiqun.store.models import Customer, Market
from jiqun.web.deps import Context, RequestContext, not_found
from jiqun.web.templating import render

router = APIRouter()


def _market_or_404(ctx: RequestContext, market_id: int) -> Market:
    market = ctx.db.get(Market, market_id)  # scoped
    if market is None:
        raise not_found(ctx, "Market not found")
    return market


def _comparison(ctx: RequestContext, market_id: int) -> dict | None:
    draft_id = grid_store.latest_draft_id(ctx.db, market_id)
    if draft_id is None:
        return None
    parcels = grid_store.parcels_by_customer(ctx.con, ctx.lake, ctx.scope, market_id,
                                             dt.date.today())
    return grid_store.compare(ctx.db, market_id, draft_id, parcels)


def _scatter(ctx: RequestContext, market_id: int, comparison: dict | None) -> dict:
    """Merchants as points coloured by grid: the draft's when there is one, else today's."""
    rows = ctx.db.execute(select(Customer.id, Customer.lon, Customer.lat, Customer.grid_id).where(
        Customer.market_id == market_id, Customer.lon.is_not(None))).all()
    grid_of = {cid: gid for cid, _, _, gid in rows}
    names = {}
    if comparison:
        for g in grid_store.draft_grids(ctx.db, market_id, comparison["draft"]):
            names[g.id] = g.code
            grid_of.update({cid: g.id for cid in g.geometry["properties"]["customer_ids"]})
    else:
        names = {g.id: g.code for g in grid_store.active_grids(ctx.db, market_id)}
    series: dict[str, list] = {}
    for cid, lon, lat, _ in rows:
        name = names.get(grid_of.get(cid), ctx.t("No grid"))
        series.setdefault(name, []).append([round(lon, 5), round(lat, 5)])
    return {"series": [{"name": k, "points": v} for k, v in sorted(series.items())]}


def _market_choices(ctx: RequestContext) -> list[dict]:
    """Markets in scope with their merchant and active-grid counts, to pick one to redraw."""
    merchants = dict(ctx.db.execute(select(Customer.market_id, func.count())
                                    .group_by(Customer.market_id)).all())
    return [{"market": m, "merchants": merchants.get(m.id, 0),
             "grids": len(grid_store.active_grids(ctx.db, m.id))}
            for m in ctx.db.scalars(select(Market).order_by(Market.code))]


@router.get("/grids/design", include_in_schema=False)
def design_page(request: Request, ctx: Context, market_id: int | None = None,
                error: str | None = None):
    if market_id is None:
        return render(request, "grid_design_pick.html", {"choices": _market_choices(ctx)})
    market = _market_or_404(ctx, market_id)
    comparison = _comparison(ctx, market_id)
    return render(request, "grid_design.html", {
        "market": market, "comparison": comparison,
        "scatter": _scatter(ctx, market_id, comparison),
        "active": grid_store.active_grids(ctx.db, market_id),
        "may_approve": grid_store.may_approve(ctx.db, ctx.user.id),
        "default_k": max(len(grid_store.active_grids(ctx.db, market_id)), 2),
        "default_tolerance": DEFAULT_TOLERANCE, "error": error,
    })


@router.get("/api/grids/design", tags=["grids"])
def api_design(ctx: Context, market_id: int) -> dict:
    """The market's current grids compared with its latest draft (``comparison`` null if none)."""
    _market_or_404(ctx, market_id)
    return {"market_id": market_id, "comparison": _comparison(ctx, market_id)}


def _back(market_id: int, error: str | None = None) -> RedirectResponse:
    url = f"/grids/design?market_id={market_id}" + (f"&error={error}" if error else "")
    return RedirectResponse(url, status_code=303)


@router.post("/grids/design/draft", include_in_schema=False)
async def make_draft(request: Request, ctx: Context):
    form = await request.form()
    try:
        market_id = int(form.get("market_id", ""))
        k = int(form.get("k", ""))
        tolerance = float(str(form.get("tolerance") or DEFAULT_TOLERANCE).replace(",", "."))
    except ValueError:
        raise HTTPException(400, ctx.t("Invalid request")) from None
    _market_or_404(ctx, market_id)
    if not 1 <= k <= 200 or not 0 <= tolerance <= 5:
        return _back(market_id, "range")
    try:
        grid_store.create_draft(ctx.db, market_id, k, tolerance)
    except (grid_store.GridDesignError, ValueError):
        ctx.db.rollback()
        return _back(market_id, "design")
    ctx.db.commit()
    return _back(market_id)


async def _step(request: Request, ctx: RequestContext, step) -> RedirectResponse:
    form = await request.form()
    raw = str(form.get("market_id") or "")
    if not raw.isdigit():
        raise HTTPException(400, ctx.t("Invalid request"))
    market_id = int(raw)
    _market_or_404(ctx, market_id)
    if not grid_store.may_approve(ctx.db, ctx.user.id):
        raise HTTPException(403, ctx.t("Approving grids needs a province or city manager"))
    try:
        step(ctx.db, market_id, str(form.get("draft") or ""), ctx.user.id)
    except grid_store.GridDesignError:
        ctx.db.rollback()
        return _back(market_id, "step")
    ctx.db.commit()
    return _back(market_id)


@router.post("/grids/design/approve", include_in_schema=False)
async def approve_draft(request: Request, ctx: Context):
    return await _step(request, ctx, grid_store.approve)


@router.post("/grids/design/activate", include_in_schema=False)
async def activate_draft(request: Request, ctx: Context):
    return await _step(request, ctx, grid_store.activate)
