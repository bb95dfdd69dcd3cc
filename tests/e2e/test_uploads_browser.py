"""Data uploads in a real browser, on a phone (390×844) and a desktop (1366×900): choose the
kind, upload a waybill file with bad rows, read the dry run and its rejects, import it; the page
fits the screen at both widths. ``JIQUN_E2E_SHOTS=/tmp/shots`` saves screenshots."""

from __future__ import annotations

import pytest

from tests.e2e.server import CHROMIUM, DESKTOP, PHONE, overflow, serving, shoot, sign_in
from tests.ingest.helpers import lake_rows
from tests.web.conftest import PASSWORD, build_world

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]

HEADER = "运单号,客户编码,产品,寄件时间,目的省,重量,资费\n"


def _file(folder, width: int):
    """Two good waybills (numbers of their own per width), a bad product, a short row."""
    rows = (f"E{width}-1,C-ZL-1,快包,2024-06-14 10:00,广东,1,5\n"
            f"E{width}-2,C-ZL-2,快包,2024-06-14 11:00,江苏,2,6\n"
            f"E{width}-3,C-ZL-1,飞机,2024-06-14 10:00,广东,1,5\n"
            f"E{width}-4,C-ZL-1,快包\n")
    path = folder / f"运单-{width}.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e-uploads")
    from jiqun.store import Store

    store = Store(f"sqlite:///{tmp}/store.db")
    store.upgrade()
    build_world(store, tmp / "lake")
    store.engine.dispose()
    with serving(tmp) as base:
        yield base, tmp


def _fits(page, what: str) -> None:
    extra = overflow(page)
    assert extra <= 0, f"{what} overflows the screen by {extra}px"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_upload_dry_run_and_import(site, browser, viewport):
    base, folder = site
    width = viewport["width"]
    phone = width < 500
    context = browser.new_context(viewport=viewport, device_scale_factor=2 if phone else 1,
                                  is_mobile=phone, has_touch=phone)
    page = context.new_page()
    sign_in(page, base, "hz-city", PASSWORD)
    page.goto(f"{base}/import")
    _fits(page, "/import")
    shoot(page, f"uploads-{width}-form")

    page.check("[data-testid=kind-waybills]")
    page.set_input_files("[data-testid=upload-file]", str(_file(folder, width)))
    page.click("[data-testid=check]")
    page.wait_for_selector("[data-testid=upload-result]")
    assert page.get_attribute("[data-testid=upload-result]", "data-dry-run") == "true"
    counts = {k: page.inner_text(f"[data-testid={k}]") for k in ("total", "added", "rejected")}
    assert counts == {"total": "4", "added": "2", "rejected": "2"}
    assert page.locator("[data-testid=rejects] tbody tr").count() == 2
    assert page.inner_text("[data-testid=rejects] tbody tr >> nth=0").startswith("4")
    assert not [r for r in lake_rows(folder / "lake") if r[0].startswith(f"E{width}")]
    _fits(page, "/import (dry run)")
    shoot(page, f"uploads-{width}-dry-run")

    with page.expect_download() as download:
        page.click("[data-testid=rejects-csv]")
    assert download.value.suggested_filename == "rejects-waybills.csv"

    page.click("[data-testid=commit]")
    page.wait_for_selector("[data-testid=imported]")
    assert page.get_attribute("[data-testid=upload-result]", "data-dry-run") == "false"
    assert page.inner_text("[data-testid=added]") == "2"
    ours = sorted(r[0] for r in lake_rows(folder / "lake") if r[0].startswith(f"E{width}"))
    assert ours == [f"E{width}-1", f"E{width}-2"]
    _fits(page, "/import (imported)")
    shoot(page, f"uploads-{width}-imported")
    context.close()
