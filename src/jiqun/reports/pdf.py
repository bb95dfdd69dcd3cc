"""PDF of a report: its HTML printed by headless Chromium once the charts are drawn.

WeasyPrint runs no JavaScript, so it would print the bulletin without its ECharts charts; a real
browser prints exactly what people see. Debian's ``/usr/bin/chromium`` is driven through
Playwright when it is installed (it can wait for the page to say its charts are drawn), or run
directly with a virtual-time budget otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
# A4 less 12 mm margins at 96 dpi: the width the charts are drawn at before printing.
PRINT_WIDTH_PX = 700
READY = "document.body.getAttribute('data-charts-ready') === '1'"


class PdfError(RuntimeError):
    """No browser to print with, or the browser failed."""


def chromium_path() -> Path | None:
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return Path(found)
    return None


def _print_with_playwright(browser: Path, html: Path, pdf: Path, timeout_ms: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=str(browser), args=CHROMIUM_ARGS)
        try:
            page = chrome.new_page(viewport={"width": PRINT_WIDTH_PX, "height": 1000})
            page.goto(html.resolve().as_uri(), wait_until="load", timeout=timeout_ms)
            if page.query_selector("[data-chart]"):
                page.wait_for_function(READY, timeout=timeout_ms)
            page.emulate_media(media="print")
            page.pdf(path=str(pdf), format="A4", print_background=True,
                     margin={"top": "12mm", "bottom": "12mm", "left": "12mm", "right": "12mm"})
        finally:
            chrome.close()


def _print_with_cli(browser: Path, html: Path, pdf: Path, timeout_ms: int) -> None:
    with tempfile.TemporaryDirectory(prefix="jiqun-pdf-") as profile:
        command = [str(browser), "--headless", *CHROMIUM_ARGS, f"--user-data-dir={profile}",
                   f"--window-size={PRINT_WIDTH_PX},1000", "--virtual-time-budget=10000",
                   "--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.resolve().as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_ms / 1000)
    if done.returncode != 0 or not pdf.exists():
        raise PdfError(f"chromium failed ({done.returncode}): {done.stderr[-500:]}")


def html_to_pdf(html: Path, pdf: Path, timeout_ms: int = 60_000) -> Path:
    """Print the HTML file ``html`` to ``pdf`` (A4) and return ``pdf``."""
    browser = chromium_path()
    if browser is None:
        raise PdfError("Chromium is not installed (Debian: apt-get install chromium)")
    pdf = Path(pdf)
    try:
        import playwright  # noqa: F401
    except ImportError:
        _print_with_cli(browser, Path(html), pdf, timeout_ms)
    else:
        _print_with_playwright(browser, Path(html), pdf, timeout_ms)
    return pdf
