"""Screenshots of the main pages at 1280 and 390 px, on a throwaway demo database (``make screenshots``).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--data DIR] [--only NAME ...]

Loads the demo into a temporary data folder (or reuses ``--data`` when it already holds one), serves it
with ``rapport serve`` on a free loopback port, signs in as the demo admin and saves
``<page>-1280.png`` and ``<page>-390.png`` for each page of ``PAGES`` (what fits in the window: 1280×800
and 390×844), then stops the server. The list of files is in docs/screenshots.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WIDTHS = {1280: 800, 390: 844}

# name, path ("{person}"… are filled from the demo data), what the picture shows
PAGES = [
    ("home", "/", "Home"),
    ("companies", "/companies/", "Companies list"),
    ("people", "/people/", "People list"),
    ("deals", "/deals/", "Deals list"),
    ("activities", "/activities/", "Activities list"),
    ("products", "/products/", "Products list"),
    ("person", "/people/{person}/", "A person"),
    ("company", "/companies/{company}/", "A company"),
    ("deal", "/deals/{deal}/", "A deal"),
    ("board", "/deals/board/", "The deals board"),
    ("forecast", "/forecast/", "Forecast"),
    ("my-day", "/my-day/", "My day"),
    ("calendar", "/calendar/", "Calendar"),
    ("quotes", "{quotes}", "Quotes (the list, or the deal's quotes before the list existed)"),
    ("quote", "/quotes/{quote}/", "A quote"),
    ("search", "/search/?q=north", "Search results"),
    ("settings", "/settings/", "Settings"),
    ("menu", "/", "The main menu opened on a phone (390 px only)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rapport(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(BIN / "rapport"), *args], env=env, check=True, cwd=ROOT)


def demo_ids(env: dict[str, str]) -> dict[str, str]:
    """Ids of the records the pictures show, read from the demo database."""
    code = (
        "from rapport.contacts.models import Company, Person\n"
        "from rapport.deals.models import Deal\n"
        "from rapport.quotes.models import Quote\n"
        "from django.urls import NoReverseMatch, reverse\n"
        "q = Quote.objects.order_by('pk').first()\n"
        "d = Deal.objects.live().filter(pk=q.deal_id).first() if q else Deal.objects.live().order_by('pk').first()\n"
        "p = Person.objects.live().filter(company__isnull=False).order_by('pk').first()\n"
        "try:\n    quotes = reverse('quote-list')\n"
        "except NoReverseMatch:\n    quotes = f'/deals/{d.pk}/quotes/'\n"
        "print('IDS', p.pk, p.company_id, d.pk, q.pk if q else '', quotes)\n"
    )
    out = subprocess.run(
        [str(BIN / "rapport"), "shell", "-c", code], env=env, check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("IDS "))
    return dict(zip(["person", "company", "deal", "quote", "quotes"], line.split()[1:], strict=True))


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(f"{url}/login/", timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def shoot(base: str, password: str, ids: dict[str, str], out: Path, only: set[str]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        for width, height in WIDTHS.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.goto(f"{base}/login/")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/login/" not in url)
            for name, path, _ in PAGES:
                if only and name not in only:
                    continue
                if name == "menu" and width > 600:
                    continue
                page.goto(base + path.format(**ids))
                page.wait_for_load_state("networkidle")
                if name == "menu":
                    page.click("[data-menu-toggle]")
                file = out / f"{name}-{width}.png"
                page.screenshot(path=str(file))
                saved.append(file)
            context.close()
        browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--data", help="data folder to use (kept); a temporary one by default")
    parser.add_argument("--only", nargs="*", default=[], help="page names of PAGES to take")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rapport-screens-") as tmp:
        data = Path(args.data or tmp)
        data.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "RAPPORT_DATA_DIR": str(data), "DJANGO_SETTINGS_MODULE": "rapport.settings.base"}
        env.pop("RAPPORT_DATABASE_URL", None)
        rapport(env, "migrate", "--noinput", "-v0")
        rapport(env, "demo", "--if-empty")
        rapport(env, "collectstatic", "--noinput", "-v0")
        password = (data / "demo-login.txt").read_text().split(" / ")[1].split()[0]
        ids = demo_ids(env)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [str(BIN / "rapport"), "serve", "--port", str(port), "--workers", "1"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(base)
            saved = shoot(base, password, ids, out, set(args.only))
        finally:
            server.terminate()
            server.wait(timeout=15)
    total = sum(f.stat().st_size for f in saved)
    print(f"{len(saved)} screenshots, {total / 1e6:.1f} MB, in {out}")


if __name__ == "__main__":
    main()
