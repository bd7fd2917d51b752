"""Shared set-up of the browser tests: Debian's Chromium driven by Playwright, headless."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM is still called synchronously.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "correct horse battery"

MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]


def page_fixture(*, width: int = 1280, height: int = 900, accept_dialogs: bool = True) -> Callable[..., Any]:
    """A ``browser_page`` fixture: a fresh Chromium page that fails the test on any JavaScript error."""

    @pytest.fixture
    def browser_page() -> Iterator[Any]:
        sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
        # Assertions wait as long as actions do: on a loaded 2-core machine a fetch after a save can
        # take more than expect()'s default 5 s.
        sync_api.expect.set_options(timeout=10_000)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.set_default_timeout(10_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            if accept_dialogs:
                page.on("dialog", lambda dialog: dialog.accept())
            yield page
            context.close()
            browser.close()
            assert not errors, f"JavaScript errors: {errors}"

    return browser_page
