"""`stylegen review` end to end in headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright; no browser is ever downloaded): open the queue with the token, open a reject,
edit the failing field until it passes, approve, see it leave the queue.

Screenshots go to $STYLEGEN_SCREENSHOTS (e.g. ``docs``) when set, else to tmp_path.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytest.importorskip("flask")
sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = [pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
              pytest.mark.enable_socket]

from gen_support import good, read_jsonl  # noqa: E402
from review_support import copy_run, make_run  # noqa: E402
from stylegen.review.app import create_app  # noqa: E402
from stylegen.review.queue import ReviewStore  # noqa: E402

TOKEN = "browser-test-token"


@pytest.fixture
def server(tmp_path):
    """The app on a free localhost port, in a background thread."""
    from werkzeug.serving import make_server

    run = copy_run(make_run(tmp_path / "gen"), tmp_path / "run")
    store = ReviewStore(run)
    server = make_server("127.0.0.1", 0, create_app(store, token=TOKEN, reviewer="e2e"), threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}", store
    server.shutdown()
    thread.join(5)


@pytest.fixture
def page():
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page
        browser.close()


def _shots(tmp_path) -> Path:
    target = Path(os.environ.get("STYLEGEN_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def test_main_flow_edit_a_reject_until_it_passes_and_approve(server, page, tmp_path):
    base, store = server
    shots = _shots(tmp_path)
    assert page.goto(f"{base}/").status == 403  # no token, no page
    page.goto(f"{base}/?token={TOKEN}")
    assert sorted(page.locator("tr.item").evaluate_all("rows => rows.map(r => r.dataset.id)")) == ["A", "B", "X"]
    page.screenshot(path=str(shots / "review-queue.png"), full_page=True)

    page.click("tr.item[data-id=A] a")  # the cookie carries the token from here on
    field = page.locator("#field-description")
    assert field.locator("mark.error").inner_text() == "best"
    assert page.locator("#approve button").is_disabled()
    page.screenshot(path=str(shots / "review-product.png"), full_page=True)

    field.locator("textarea").fill("Still the best pot.")  # still failing
    field.locator("button[type=submit]").click()
    assert "1 error(s) remain" in page.locator("[role=status]").inner_text()
    assert page.locator("#approve button").is_disabled()

    page.locator("#field-description textarea").fill(good("description"))
    page.locator("#field-description button[type=submit]").click()
    assert "no errors left" in page.locator("[role=status]").inner_text()
    assert page.locator("#field-description mark").count() == 0
    page.click("#approve button")

    assert "approved A" in page.locator("[role=status]").inner_text()
    assert page.locator("tr.item[data-id=A]").count() == 0  # left the queue
    assert page.locator("tr.item").count() == 2
    records = read_jsonl(store.approved_path)
    assert [r["id"] for r in records] == ["A"] and records[0]["provenance"]["reviewer"] == "e2e"
