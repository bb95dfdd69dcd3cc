"""The pages warmed after a data change (预热), inside the serving process.

Every page's figures and long computations are kept per data version (:mod:`jiqun.kpi.cache`,
:mod:`jiqun.web.computed`), so without this the first visitor after an import waits for all
of them (the line proposals, the bulletin and its PDF, the price response, a visit plan).
The warmer watches what those versions are made of — the lake's files and the rules and
planning files — and when they change it loads every navigation page once, and the bulletin's
files, as each recent viewer: one signed-in user per org unit and role, latest sign-in first.
It goes through the app itself with a bearer token of that user that never leaves the process, so what it keeps
is exactly what that user's pages compute, under their own scope and permissions, and a new
page of :data:`jiqun.web.nav.NAV` is warmed without anyone remembering to add it here.

Each server process keeps its own caches, so each warms its own; one page at a time, so the
warm-up never takes more than one of the request threads. ``JIQUN_SERVE_WARMUP=false`` (and
the test suite) turns it off. The latest warm-up is shown on ``/jobs`` and ``/api/jobs``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import select

from jiqun.store.models import User, WebSession
from jiqun.web.computed import files_version, lake_version
from jiqun.web.nav import NAV

log = logging.getLogger(__name__)

BULLETIN_FILE = re.compile(r'href="(/bulletin/[0-9]{4}-W[0-9]{2}\.(?:html|xlsx|pdf))"')


@dataclass(frozen=True)
class WarmupStatus:
    """The latest warm-up of this server process."""

    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None  # None while it runs
    viewers: int = 0
    pages: int = 0  # loads answered below 500
    failed: int = 0  # loads answered 5xx or not at all
    seconds: float = 0.0

    @property
    def running(self) -> bool:
        return self.started_at is not None and self.finished_at is None


def navigation_paths() -> list[str]:
    """Every page of the main navigation, in the header's order."""
    return [item.path for group in NAV for item in group.items]


def bulletin_files(page: str) -> list[str]:
    """The files (HTML, XLSX, PDF) that the bulletin page links to."""
    return list(dict.fromkeys(BULLETIN_FILE.findall(page)))


def recent_viewers(store, limit: int, now: dt.datetime | None = None) -> list[int]:
    """Active users with a live web session, one per (org unit, role), latest sign-in first:
    the scopes whose pages someone is about to open."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    query = (select(User.id, User.org_unit_id, User.role)
             .join(WebSession, WebSession.user_id == User.id)
             .where(WebSession.expires_at > now, User.active.is_(True))
             .order_by(WebSession.created_at.desc(), User.id))
    seen: set[tuple] = set()
    viewers: list[int] = []
    with store.session() as session:
        for user_id, unit, role in session.execute(query):
            if (unit, role) in seen:
                continue
            seen.add((unit, role))
            viewers.append(user_id)
            if len(viewers) == limit:
                break
    return viewers


class Warmer:
    """Looks for a data change every ``interval`` seconds and then warms the pages."""

    def __init__(self, app, interval: float, viewers: int):
        self.app = app
        self.interval = interval
        self.max_viewers = viewers
        self.status = WarmupStatus()
        self._warmed: tuple | None = None  # the data version last warmed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what is watched --------------------------------------------------------------------
    def data_version(self) -> tuple:
        settings = self.app.state.settings
        return (lake_version(Path(settings.lake_path)),
                files_version((settings.rules_file, settings.planning_file)))

    # -- one round --------------------------------------------------------------------------
    def check(self) -> bool:
        """Warm the pages if the data changed since the last warm-up; whether it did."""
        version = self.data_version()
        if version == self._warmed:
            return False
        viewers = recent_viewers(self.app.state.store, self.max_viewers)
        if not viewers:
            return False  # nobody signed in: the first sign-in's round warms it
        self.warm(viewers)
        if not self._stop.is_set():  # a warm-up cut short by the server's stop is not done
            self._warmed = version
        return True

    def warm(self, viewers: list[int]) -> WarmupStatus:
        started = time.perf_counter()
        self.status = WarmupStatus(started_at=dt.datetime.now(dt.UTC), viewers=len(viewers))
        pages, failed = asyncio.run(self._warm_pages(viewers))
        self.status = replace(self.status, finished_at=dt.datetime.now(dt.UTC), pages=pages,
                              failed=failed, seconds=round(time.perf_counter() - started, 2))
        log.info("warm-up: %d pages of %d viewers in %.1f s (%d failed)", pages, len(viewers),
                 self.status.seconds, failed)
        return self.status

    async def _warm_pages(self, viewers: list[int]) -> tuple[int, int]:
        """Every viewer's pages, one load at a time, through the app in this thread's own
        event loop (the app's sync routes run in that loop's worker threads)."""
        import httpx  # only when serving

        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        pages = failed = 0
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1",
                                     timeout=None) as client:
            for user_id in viewers:
                headers = self._bearer(user_id)
                if headers is None:
                    continue
                paths = navigation_paths()
                for path in paths:  # grows by the bulletin's files, which its page links to
                    if self._stop.is_set():
                        return pages, failed
                    response = await self._load(client, path, headers)
                    if response is None or response.status_code >= 500:
                        failed += 1
                        continue
                    pages += 1
                    if path == "/bulletin" and response.status_code == 200:
                        paths += bulletin_files(response.text)
        return pages, failed

    def _bearer(self, user_id: int) -> dict[str, str] | None:
        with self.app.state.store.session() as session:
            user = session.get(User, user_id)
            if user is None or not user.active:
                return None
            token = self.app.state.tokens.issue(user.id, user.auth_epoch)
        return {"Authorization": f"Bearer {token}"}

    @staticmethod
    async def _load(client, path: str, headers: dict[str, str]):
        """The page's answer; None when it raised (a page that fails is the page's bug, not the
        warm-up's)."""
        try:
            return await client.get(path, headers=headers)
        except Exception:
            log.exception("warm-up: %s failed", path)
            return None

    # -- the thread -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="jiqun-warmup", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # keep watching: a failed round is retried at the next change
                log.exception("warm-up round failed")
            self._stop.wait(self.interval)
