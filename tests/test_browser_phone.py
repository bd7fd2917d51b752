"""Every main page on a 390 px phone, as a member: nothing makes the page scroll sideways (wide parts
such as the board scroll inside their own box)."""

from __future__ import annotations

from typing import Any

from rapport.accounts.models import Team, User

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_pipeline, default_role, write

pytestmark = MARKS
browser_page = page_fixture(width=390, height=844)


def test_main_pages_fit_a_phone(live_server: Any, transactional_db: Any, browser_page: Any) -> None:
    team = Team.objects.create(name="Sales")
    member = User.objects.create_user(
        username="mia", password=PASSWORD, first_name="Mia", last_name="Member", team=team, role=default_role("member")
    )
    pipeline = default_pipeline()
    stage = pipeline.stages.order_by("position").first()
    company = write("companies", {"name": "Northwind Traders International", "owner": member.pk}, actor=member)
    person = write(
        "people",
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "emails": ["ada@northwind.example"],
            "company": company.pk,
            "owner": member.pk,
        },
        actor=member,
    )
    deal = write(
        "deals",
        {
            "title": "Northwind platform renewal for three years",
            "pipeline": pipeline.pk,
            "stage": stage.pk,
            "amount": "125000.00",
            "currency": "EUR",
            "company": company.pk,
            "owner": member.pk,
        },
        actor=member,
    )
    page = browser_page
    _log_in(page, live_server.url, "mia")
    paths = [
        "/",
        "/companies/",
        "/people/",
        "/deals/",
        "/activities/",
        "/products/",
        "/deals/board/",
        f"/companies/{company.pk}/",
        f"/people/{person.pk}/",
        f"/deals/{deal.pk}/",
        "/people/new/",
        "/my-day/",
        "/calendar/",
        "/forecast/",
        "/bin/",
        "/search/?q=northwind",
        "/settings/tokens/",
    ]
    too_wide = _too_wide(page, live_server.url, paths)

    User.objects.create_user(username="ada", password=PASSWORD, first_name="Ada", role=default_role("admin"))
    page.context.clear_cookies()
    _log_in(page, live_server.url, "ada")
    settings_pages = ["/settings/users/", "/settings/teams/", "/settings/roles/", "/settings/fields/people/"]
    settings_pages += ["/settings/pipelines/", "/settings/rates/", "/settings/quotas/", "/settings/audit/"]
    settings_pages += ["/settings/jobs/"]
    too_wide.update(_too_wide(page, live_server.url, settings_pages))
    assert too_wide == {}


def _log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def _too_wide(page: Any, base: str, paths: list[str]) -> dict[str, int]:
    """The pages, among ``paths``, wider than the phone (each must load with 200)."""
    out = {}
    for path in paths:
        response = page.goto(f"{base}{path}")
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            out[path] = width
    return out
