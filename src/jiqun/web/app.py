"""The web app: ``create_app(settings)`` (``jiqun serve`` runs it with uvicorn's ``--factory``).

FastAPI serves server-rendered pages (Jinja2 + HTMX + ECharts, all shipped in the package) and
their JSON twins under ``/api``; both read data only through :func:`jiqun.web.deps.get_context`.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from jiqun import __version__
from jiqun.config import Settings, check_secret, get_settings
from jiqun.errors import Conflict, Invalid, NotAllowed, NotFound
from jiqun.i18n import normalise_locale, translator
from jiqun.kpi.cache import FigureCache
from jiqun.store import ScopeError, Store
from jiqun.web.deps import LoginRequired, make_lake_connections
from jiqun.web.routes import (
    auth,
    customers,
    dashboard,
    finance,
    grids,
    jobs,
    kpi,
    markets,
    network,
    parcels,
    price_advice,
    prices,
    problems,
    registry,
    sales,
    sales_ops,
    service,
    uploads,
    users,
    visit_plan,
    warehouses,
)
from jiqun.web.schemas import document_errors
from jiqun.web.security import LoginThrottle, TokenSigner, csrf_protect
from jiqun.web.templating import make_templates, render
from jiqun.web.warmup import Warmer

STATIC = Path(__file__).parent / "static"
LANG_COOKIE = "jiqun_lang"
SESSION_COOKIE = "jiqun_session"
ONE_YEAR = 365 * 24 * 3600

# Everything is served from this origin: no CDN, no inline scripts.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api")


def _add_locale_middleware(app: FastAPI, default: str) -> None:
    @app.middleware("http")
    async def choose_language(request: Request, call_next):
        """``?lang=en`` switches and is remembered in a cookie; Chinese by default."""
        chosen = request.query_params.get("lang")
        locale = normalise_locale(chosen or request.cookies.get(LANG_COOKIE) or default)
        request.state.locale = locale
        response = await call_next(request)
        if chosen:
            response.set_cookie(LANG_COOKIE, locale, max_age=ONE_YEAR, samesite="lax",
                                httponly=True)
        return response


def _add_security_headers(app: FastAPI) -> None:
    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "Not authenticated"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.headers.get("HX-Request") == "true":
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse(f"/login?next={target}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or request.url.path.startswith("/static"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        t = translator(request.state.locale)
        message = exc.detail if exc.status_code != 404 or exc.detail != "Not Found" \
            else t("Not found")
        return render(request, "error.html", {"status": exc.status_code, "message": message},
                      status_code=exc.status_code)

    def refusal(request: Request, status: int, message: str, **extra) -> Response:
        if _is_api(request):
            return JSONResponse(jsonable_encoder({"detail": message, **extra}),
                                status_code=status)
        return render(request, "error.html", {"status": status, "message": message},
                      status_code=status)

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> Response:
        return refusal(request, 403, exc.translated(translator(request.state.locale)))

    @app.exception_handler(ScopeError)
    async def outside_scope(request: Request, _exc: ScopeError) -> Response:
        return refusal(request, 403,
                       translator(request.state.locale)("Outside your part of the organisation"))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, _exc: NotFound) -> Response:
        return refusal(request, 404, translator(request.state.locale)("Not found"))

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> Response:
        return refusal(request, 409, exc.translated(translator(request.state.locale)),
                       mine=exc.mine, theirs=exc.theirs)

    @app.exception_handler(StaleDataError)
    async def changed_meanwhile(request: Request, _exc: StaleDataError) -> Response:
        return refusal(request, 409, translator(request.state.locale)(
            "Someone else changed this record meanwhile; reload it and try again"))

    @app.exception_handler(Invalid)
    async def invalid(request: Request, exc: Invalid) -> Response:
        t = translator(request.state.locale)
        errors = exc.translated(t)
        return refusal(request, 422, "; ".join(errors.values()), errors=errors)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            from fastapi.exception_handlers import request_validation_exception_handler

            return await request_validation_exception_handler(request, exc)
        # A page's path or query that fails its declared bounds (``?market_id=²``); a form the
        # user can correct is shown again by its own route with field messages (400).
        t = translator(request.state.locale)
        return render(request, "error.html", {"status": 422, "message": t("Invalid request")},
                      status_code=422)


def _serving_threads(settings: Settings):
    """Lifespan: serve the sync routes from ``Settings.web_threads`` threads (the store's
    connection pool is sized against this number, ``Settings.store_pool_size``); with
    ``Settings.serve_jobs`` the scheduled jobs run in this process too
    (jiqun.service.scheduler), with ``Settings.serve_warmup`` the pages are warmed after each
    data change (jiqun.web.warmup)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.web_threads
        scheduler = warmer = None
        if settings.serve_jobs:
            from jiqun.service.scheduler import background

            scheduler = background(app.state.store, app.state.settings)
        if settings.serve_warmup:
            warmer = Warmer(app, settings.warmup_interval_seconds, settings.warmup_viewers)
            warmer.start()
        app.state.scheduler, app.state.warmer = scheduler, warmer
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            if warmer is not None:
                warmer.stop()

    return lifespan


def _document_errors(app: FastAPI) -> None:
    """The OpenAPI schema documents the error answers of every operation (schemas.py)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(build())
        return app.openapi_schema

    app.openapi = openapi


def create_app(settings: Settings | None = None) -> FastAPI:
    """The jiqun web app for ``settings`` (default: from the environment)."""
    settings = settings or get_settings()
    check_secret(settings)  # InsecureSecret: an empty, short or default key in production
    app = FastAPI(
        title="jiqun 集群",
        version=__version__,
        description="Operations platform for parcel carriers in cluster markets. "
        "Authenticate with `POST /api/token` and send `Authorization: Bearer <token>`.",
        dependencies=[Depends(csrf_protect)],
        lifespan=_serving_threads(settings),
    )
    app.state.settings = settings
    app.state.store = Store.from_settings(settings)
    app.state.lake_connections = make_lake_connections(settings)
    app.state.figures = FigureCache(settings.figure_cache_size)  # shared by the requests
    app.state.templates = make_templates()
    app.state.tokens = TokenSigner(settings.secret_key, settings.token_ttl_seconds)
    app.state.login_limit = LoginThrottle.from_settings(app.state.store, settings)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # registry before markets: /markets/new and /markets/top must win over /markets/{market_id}.
    for module in (auth, dashboard, registry, markets, customers, kpi, sales, network, visit_plan,
                   grids, sales_ops, uploads, users, parcels, service, warehouses, jobs, problems,
                   price_advice, prices, finance):
        app.include_router(module.router)
    _add_error_handlers(app)
    _document_errors(app)
    # Middleware added last runs first: sessions must exist before the locale and routes.
    _add_locale_middleware(app, settings.locale)
    _add_security_headers(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_ttl_seconds,
        same_site="lax",
        https_only=settings.environment == "production",
    )
    return app
