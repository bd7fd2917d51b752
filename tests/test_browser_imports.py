"""The import page in headless Chromium: upload a CSV, change one column's target, the dry run shows the
rejected row with its line, import, the progress reaches done, the records are in the list; the pages at
1280 and 390 px (no sideways scrolling)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rapport.accounts.models import Role, Team, User
from rapport.contacts.models import Person
from rapport.imports.models import Import
from rapport.jobs.worker import Worker

from .browser import MARKS, PASSWORD, page_fixture

pytestmark = MARKS
browser_page = page_fixture()

CSV = (
    "First name,Last name,Reach,Stage\n"
    "Ada,Lovelace,ada@example.com,customer\n"
    "Alan,Turing,not-an-email,lead\n"
    "Grace,Hopper,grace@example.com,lead\n"
)


def log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def no_sideways_scroll(page: Any) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def work_in_background(stop: threading.Event) -> threading.Thread:
    """A worker in a thread of the test process, as `rapport worker` would run the queued phases."""

    def loop() -> None:
        worker = Worker(worker_id="browser-imports")
        while not stop.is_set():
            worker.run_pending()
            time.sleep(0.2)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("width", [1280, 390])
def test_upload_map_check_import_and_see_the_records(
    live_server: Any, transactional_db: Any, browser_page: Any, tmp_path: Any, width: int
) -> None:
    from playwright.sync_api import expect

    team = Team.objects.create(name="Sales")
    User.objects.create_user(
        username="mia", password=PASSWORD, first_name="Mia", team=team, role=Role.objects.get(key="manager")
    )
    page = browser_page
    page.set_viewport_size({"width": width, "height": 900})
    base = live_server.url
    log_in(page, base, "mia")
    path = tmp_path / "fair.csv"
    path.write_text(CSV)
    stop = threading.Event()
    worker = work_in_background(stop)
    try:
        page.goto(f"{base}/people/")
        page.click("a:has-text('Import')")
        page.wait_for_url(f"{base}/import/?type=people")
        expect(page.locator("#import-type")).to_have_value("people")
        page.set_input_files("#import-file", str(path))
        expect(page.locator("[data-dropzone-name]")).to_have_text("Chosen: fair.csv")
        assert no_sideways_scroll(page)
        page.screenshot(path=f"/tmp/imports-upload-{width}.png", full_page=True)
        page.click("button:has-text('Upload and map columns')")
        page.wait_for_url(lambda url: "/import/" in url and url.rstrip("/").split("/")[-1].isdigit())

        # "Reach" is not recognised: map it to Email by hand; "Stage" goes to Lifecycle stage.
        expect(page.locator("#target-2")).to_have_value("")
        page.select_option("#target-2", "emails")
        page.select_option("#target-3", "lifecycle_stage")
        assert no_sideways_scroll(page)
        page.screenshot(path=f"/tmp/imports-mapping-{width}.png", full_page=True)
        page.click("button:has-text('Check every row')")

        expect(page.locator("#import-progress")).to_have_attribute("data-status", "checked")
        expect(page.locator("[data-count=created]")).to_have_text("2")
        expect(page.locator("[data-count=rejected]")).to_have_text("1")
        row = page.locator("table.rejections tbody tr")
        expect(row).to_have_count(1)
        expect(row.locator("td").nth(0)).to_have_text("3")
        expect(row.locator("td").nth(1)).to_have_text("Reach")
        expect(row.locator("td").nth(2)).to_have_text("not-an-email")
        assert no_sideways_scroll(page)
        page.screenshot(path=f"/tmp/imports-checked-{width}.png", full_page=True)

        page.click("button:has-text('Import 2 valid rows')")
        expect(page.locator("#import-progress")).to_have_attribute("data-status", "done", timeout=30_000)
        expect(page.locator("#import-progress progress")).to_have_count(0)
        assert no_sideways_scroll(page)
        page.screenshot(path=f"/tmp/imports-done-{width}.png", full_page=True)
        page.click("a:has-text('See the people')")
        page.wait_for_url(f"{base}/people/")
        expect(page.locator("main")).to_contain_text("Lovelace")
        expect(page.locator("main")).to_contain_text("Hopper")
    finally:
        stop.set()
        worker.join(timeout=10)
    imp = Import.objects.get()
    assert (imp.status, imp.created, imp.rejected) == ("done", 2, 1)
    assert sorted(Person.objects.values_list("primary_email", "lifecycle_stage")) == [
        ("ada@example.com", "customer"),
        ("grace@example.com", "lead"),
    ]
