"""Jinja2 templates with the translator ``_``, number filters and the page chrome's values."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from jiqun.formats import JINJA_FILTERS
from jiqun.i18n import translator
from jiqun.web import labels
from jiqun.web.nav import NAV, current_item
from jiqun.web.security import csrf_token

TEMPLATES = Path(__file__).parent / "templates"


def url_with(request: Request, **changes: Any) -> str:
    """The current URL with some query parameters replaced (``None`` drops one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return f"{request.url.path}?{query}" if query else request.url.path


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    env.filters.update(JINJA_FILTERS)  # the figures' one format, in the page's locale
    env.filters["year_month"] = lambda day: day.strftime("%Y-%m")
    env.globals.update(labels=labels)
    return templates


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render a page with ``_``, the locale, the user, the CSRF token and URL helpers."""
    locale = request.state.locale
    t = translator(locale)
    values = {
        "_": t,
        "locale": locale,
        "html_lang": "zh-CN" if locale == "zh-CN" else "en",
        "user": getattr(request.state, "user", None),
        "csrf_token": csrf_token(request),
        "url_with": lambda **kw: url_with(request, **kw),
        "today": dt.date.today(),
        "htmx": request.headers.get("HX-Request") == "true",
        "nav": request.url.path,
        "nav_groups": NAV,
        "nav_item": current_item(request.url.path),
    }
    values.update(context or {})
    return request.app.state.templates.TemplateResponse(
        request, name, values, status_code=status_code
    )
