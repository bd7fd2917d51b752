"""Activities in headless Chromium: from a deal's page log a call and schedule a follow-up task for tomorrow
without leaving the page, see both on the timeline (and the task in My day), then complete the task."""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse

from rapport.accounts.models import Team, User
from rapport.activities.models import Activity
from rapport.deals.models import Pipeline

from .browser import MARKS, PASSWORD, page_fixture
from .conftest import default_role, write

pytestmark = MARKS
browser_page = page_fixture(width=1400, height=1000)


def _setup() -> tuple[User, Any]:
    team = Team.objects.create(name="Sales")
    user = User.objects.create_user(
        username="sam", password=PASSWORD, first_name="Sam", last_name="Seller", team=team, role=default_role("member")
    )
    pipeline, _ = Pipeline.objects.get_or_create(name="Activity test pipeline")
    stage = pipeline.stages.create(name="Qualification", position=0, probability=10, kind="open")
    pipeline.stages.create(name="Won", position=1, probability=100, kind="won")
    pipeline.stages.create(name="Lost", position=2, probability=0, kind="lost")
    company = write("companies", {"name": "Initech"}, actor=user)
    deal = write(
        "deals",
        {"title": "Initech seats", "pipeline": pipeline.pk, "stage": stage.pk, "company": company.pk},
        actor=user,
    )
    return user, deal


def _my_day_url() -> str:
    try:
        return reverse("my-day")
    except NoReverseMatch:
        return ""


def test_log_a_call_schedule_a_task_and_complete_it(live_server: Any, transactional_db: Any, browser_page: Any) -> None:
    from playwright.sync_api import expect

    user, deal = _setup()
    page = browser_page
    base = live_server.url
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/deals/{deal.pk}/")
    timeline = page.locator("#activity-timeline")
    expect(timeline.locator(".tl-filters")).to_be_visible()

    # Log a call: the subject field gets the focus, Enter submits, the page stays.
    page.get_by_role("button", name="Log a call").click()
    subject = page.locator("#ql-subject")
    expect(subject).to_be_focused()
    page.select_option("#ql-outcome", "connected")
    page.fill("#ql-body", "Wants **20 seats**")
    subject.fill("Discovery call")
    subject.press("Enter")
    expect(page.locator("#quicklog-form .flash-success")).to_contain_text("Saved call “Discovery call”")
    expect(timeline).to_contain_text("Discovery call")
    expect(timeline.locator("strong", has_text="20 seats")).to_be_visible()
    assert page.url.rstrip("/").endswith(f"/deals/{deal.pk}")

    # A field error is shown in place and names the field.
    page.get_by_role("button", name="Schedule a task").click()
    page.fill("#ql-subject", "")
    page.click("#quicklog-form button[type=submit]")
    expect(page.locator("#quicklog-form .errorlist")).to_contain_text("Subject")

    # Schedule the follow-up: due tomorrow 09:00 in the user's zone by default.
    page.fill("#ql-subject", "Send the proposal")
    page.click("#quicklog-form button[type=submit]")
    expect(page.locator("#quicklog-form .flash-success")).to_contain_text("Send the proposal")
    task_item = timeline.locator(".tl-task", has_text="Send the proposal")
    expect(task_item).to_contain_text("Open")
    task = Activity.objects.get(subject="Send the proposal")
    assert {(link.type_key, link.record_id) for link in task.links.all()} == {
        ("deals", deal.pk),
        ("companies", deal.company_id),
    }
    assert task.assignee_id == user.pk and task.due_at is not None

    my_day = _my_day_url()
    if my_day:
        page.goto(f"{base}{my_day}")
        expect(page.locator("body")).to_contain_text("Send the proposal")
        page.goto(f"{base}/deals/{deal.pk}/")

    # Complete it from the timeline.
    page.get_by_role("button", name="Mark “Send the proposal” done").click()
    expect(timeline.locator(".tl-task", has_text="Send the proposal")).to_contain_text("Done")
    task.refresh_from_db()
    assert task.done
