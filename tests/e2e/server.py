"""`jiqun serve` in a subprocess over a store and lake in a folder, for the browser tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jiqun_command() -> list[str]:
    script = Path(sys.executable).with_name("jiqun")
    return [str(script)] if script.exists() else [shutil.which("jiqun") or "jiqun"]


def _wait_until_up(url: str, server: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"jiqun serve exited: {server.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"jiqun serve did not answer at {url}")


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """Serve ``folder/store.db`` and ``folder/lake``; yields the base URL, stops the server."""
    port = _free_port()
    env = {**os.environ, "JIQUN_STORE_URL": f"sqlite:///{folder}/store.db",
           "JIQUN_LAKE_PATH": str(folder / "lake"), "JIQUN_ENVIRONMENT": "test",
           "JIQUN_SECRET_KEY": "e2e-secret", "JIQUN_LOCALE": "zh-CN",
           # the settings files a server in this folder reads (the defaults, relative to it),
           # not the test run's uncreatable ones (tests/conftest.py)
           "JIQUN_RULES_FILE": str(folder / "var/kpi-rules.toml"),
           "JIQUN_PLANNING_FILE": str(folder / "var/planning.toml")}
    server = subprocess.Popen([*_jiqun_command(), "serve", "--port", str(port)], env=env,
                              cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/login", server)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def build_tiny_demo(folder: Path) -> None:
    """The tiny demo province (seed 7) into ``folder/store.db`` and ``folder/lake``."""
    from jiqun.demo import build_demo
    from jiqun.store import Store

    store = Store(f"sqlite:///{folder}/store.db")
    store.upgrade()
    build_demo(store, folder / "lake", scale="tiny", seed=7, progress=False)
    store.engine.dispose()


@contextmanager
def serving_demo(folder: Path) -> Iterator[str]:
    """The tiny demo built into ``folder`` and served; yields the base URL."""
    build_tiny_demo(folder)
    with serving(folder) as base:
        yield base


def sign_in(page, base: str, username: str, password: str) -> None:
    """Sign in through the login form and land on the dashboard."""
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def browser_context(browser, viewport):
    """A browser context at ``viewport``: a phone (narrower than 500 px) with touch and a
    2× screen, or a desktop."""
    phone = viewport["width"] < 500
    return browser.new_context(viewport=viewport, device_scale_factor=2 if phone else 1,
                               is_mobile=phone, has_touch=phone)


def overflow(page) -> int:
    """Pixels the page is wider than the window (0 or less: no sideways scrolling)."""
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


def shoot(page, name: str) -> None:
    """Save a full-page screenshot when ``JIQUN_E2E_SHOTS`` names a folder."""
    folder = os.environ.get("JIQUN_E2E_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{folder}/{name}.png", full_page=True)
