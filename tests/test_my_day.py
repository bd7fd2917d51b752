"""My day: buckets in the user's time zone, complete/reschedule/remind actions (htmx and plain), empty states,
nav counters, the API, and pinned query counts with thousands of open tasks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from freezegun import freeze_time

from rapport.accounts.models import Team
from rapport.activities import myday
from rapport.activities.models import Activity, Reminder
from rapport.core import services

from .browser import CHROMIUM, PASSWORD, page_fixture
from .conftest import make_user, write

browser_page = page_fixture()

NOW = dt.datetime(2026, 11, 26, 22, 30, tzinfo=dt.UTC)  # 23:30 in Berlin, 17:30 in New York


def task(user, due: str, subject: str, **extra):
    return write("activities", {"subject": subject, "due_at": due, **extra}, actor=user)


def test_buckets_follow_the_users_time_zone(users):
    member = users["member"]
    with freeze_time(NOW):
        task(member, "2026-11-26T20:00:00Z", "Earlier tonight")  # past: overdue in every zone
        task(member, "2026-11-26T23:30:00Z", "Half past midnight Berlin")  # Berlin: tomorrow; New York: today
        task(member, "2026-12-02T12:00:00Z", "Next week")
        task(member, "2026-12-10T12:00:00Z", "Too far")
        write(
            "activities",
            {"kind": "meeting", "subject": "Board meeting", "start_at": "2026-11-26T22:45:00Z"},
            actor=member,
        )
        task(users["peer"], "2026-11-26T23:00:00Z", "Peer's task")
        write("activities", {"subject": "Done", "due_at": "2026-11-26T23:00:00Z", "done": True}, actor=member)

        member.time_zone = "Europe/Berlin"
        day = myday.build(member)
        assert day.today == dt.date(2026, 11, 26)
        assert [a.subject for a in day.overdue] == ["Earlier tonight"]
        assert [a.subject for a in day.due_today] == ["Board meeting"]
        assert [a.subject for a in day.upcoming] == ["Half past midnight Berlin", "Next week"]

        member.time_zone = "America/New_York"
        day = myday.build(member)
        assert [a.subject for a in day.due_today] == ["Board meeting", "Half past midnight Berlin"]

        member.time_zone = "Asia/Tokyo"  # already Friday 07:30 there
        day = myday.build(member)
        assert day.today == dt.date(2026, 11, 27)
        assert [a.subject for a in day.due_today] == ["Board meeting", "Half past midnight Berlin"]


def test_page_lists_shows_local_times_and_empty_states(users, client):
    member = users["member"]
    member.time_zone = "Europe/Berlin"
    member.save()
    client.force_login(member)
    with freeze_time(NOW):
        empty = client.get("/my-day/")
        assert empty.status_code == 200 and b"Nothing on your plate" in empty.content
        task(member, "2026-11-26T20:00:00Z", "<script>x</script> overdue")
        page = client.get("/my-day/")
        nav = client.get("/my-day/nav/")
    assert b"&lt;script&gt;x&lt;/script&gt; overdue" in page.content and b"<script>x</script>" not in page.content
    assert "Nov 26, 2026, 9:00\u202fPM".encode() in page.content  # 20:00 UTC shown in Berlin time
    assert b"Nothing else due today." in page.content and b"Nothing planned for the coming week." in page.content
    assert nav.content.count(b'title="Overdue tasks">1<') == 1


def test_anonymous_is_sent_to_login(client):
    assert client.get("/my-day/")["Location"].startswith("/login/")


def test_complete_with_htmx_and_stale_version(users, client):
    member = users["member"]
    client.force_login(member)
    with freeze_time(NOW):
        overdue = task(member, "2026-11-26T20:00:00Z", "Send proposal")
        stale = client.post(f"/my-day/{overdue.pk}/complete/", {"version": overdue.version - 1}, HTTP_HX_REQUEST="true")
        assert b"changed by someone else" in stale.content
        assert not Activity.objects.get(pk=overdue.pk).done
        done = client.post(f"/my-day/{overdue.pk}/complete/", {"version": overdue.version}, HTTP_HX_REQUEST="true")
    assert done.status_code == 200 and b"is done" in done.content and b'id="my-day"' in done.content
    assert b"<html" not in done.content  # a fragment for htmx
    assert Activity.objects.get(pk=overdue.pk).done
    other = task(users["outsider"], "2026-11-26T20:00:00Z", "Not yours")
    assert client.post(f"/my-day/{other.pk}/complete/", {}).status_code == 404
    assert not Activity.objects.get(pk=other.pk).done


def test_read_only_user_sees_no_actions_and_cannot_complete(users, client):
    reader = users["read-only"]
    mine = task(users["member"], "2026-11-26T20:00:00Z", "Assigned to reader", assignee=reader.pk)
    client.force_login(reader)
    page = client.get("/my-day/")
    assert b"Assigned to reader" in page.content and b"/complete/" not in page.content
    refused = client.post(f"/my-day/{mine.pk}/complete/", {"version": mine.version}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 403 and not Activity.objects.get(pk=mine.pk).done


def test_reschedule_in_local_time_moves_the_reminder(users, client):
    member = users["member"]
    member.time_zone = "America/New_York"
    member.save()
    client.force_login(member)
    with freeze_time(NOW):
        item = task(member, "2026-11-26T20:00:00Z", "Call back")
        assert client.post(f"/my-day/{item.pk}/reminder/", {"minutes": "60"}).status_code == 302
        assert Reminder.objects.get().fire_at == dt.datetime(2026, 11, 26, 19, 0, tzinfo=dt.UTC)
        bad = client.post(
            f"/my-day/{item.pk}/reschedule/", {"when": "soon", "version": item.version}, HTTP_HX_REQUEST="1"
        )
        assert bad.status_code == 400 and b"When: enter a date and time" in bad.content
        moved = client.post(
            f"/my-day/{item.pk}/reschedule/",
            {"when": "2026-11-27T09:00", "version": item.version},
            HTTP_HX_REQUEST="true",
        )
    assert moved.status_code == 200 and b"moved to Fri 27 Nov 09:00" in moved.content
    item.refresh_from_db()
    assert item.due_at == dt.datetime(2026, 11, 27, 14, 0, tzinfo=dt.UTC)  # 09:00 EST
    assert Reminder.objects.get().fire_at == dt.datetime(2026, 11, 27, 13, 0, tzinfo=dt.UTC)
    refused = client.post(f"/my-day/{item.pk}/reminder/", {"minutes": "abc"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 400 and b"Reminder: choose" in refused.content


def test_api_my_day(users, api_client_for):
    member = users["member"]
    member.time_zone = "Europe/Berlin"
    member.save()
    with freeze_time(NOW):
        item = task(member, "2026-11-26T20:00:00Z", "Overdue one")
        task(member, "2026-11-27T08:00:00Z", "Tomorrow")
        task(users["outsider"], "2026-11-26T20:00:00Z", "Other team")
        body = api_client_for(member).get("/api/v1/my-day/").json()
    assert body["date"] == "2026-11-26" and body["time_zone"] == "Europe/Berlin"
    assert [a["id"] for a in body["overdue"]] == [item.pk] and body["overdue"][0]["overdue"] is True
    assert body["today"] == [] and [a["subject"] for a in body["upcoming"]] == ["Tomorrow"]
    assert body["overdue"][0]["version"] == item.version and body["overdue"][0]["reminder_minutes"] is None


def test_query_counts_with_thousands_of_open_tasks(users, client, api_client_for, django_assert_max_num_queries):
    member = users["member"]
    base = task(member, "2026-11-20T09:00:00Z", "Template")
    fields = {f.attname: getattr(base, f.attname) for f in Activity._meta.concrete_fields if f.attname != "id"}
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    services.create_records_in_bulk(
        [
            Activity(**{**fields, "subject": f"Task {n}", "due_at": start + dt.timedelta(hours=n % 2000)})
            for n in range(5000)
        ],
        actor=member,
        source="import",
    )
    client.force_login(member)
    with freeze_time(NOW):
        # session, user, role; then one bounded query per bucket and source (overdue; today and upcoming
        # by due time and by start time): never per row, never growing with the number of tasks
        with django_assert_max_num_queries(8):
            page = client.get("/my-day/")
        assert page.status_code == 200
        day = myday.build(member, now=NOW)
        assert len(day.overdue) == len(day.upcoming) == myday.LIMIT and day.more_overdue and day.more_upcoming
        assert day.due_today, "today's tasks must show even with thousands overdue"
        rows = 2 * myday.LIMIT + len(day.due_today)
        assert page.content.count(b"/complete/") == 2 * rows  # each row names its complete URL twice (form, htmx)
        assert b"see them all" in page.content
        with django_assert_max_num_queries(5):  # session, user, role, overdue count, unread count
            client.get("/my-day/nav/")
        api = api_client_for(member)
        with django_assert_max_num_queries(8):  # token, the rate-limit count, then the five bucket queries
            body = api.get("/api/v1/my-day/").json()
        assert len(body["overdue"]) == myday.LIMIT and body["today"] and body["more_upcoming"]


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_my_day_in_the_browser(live_server, transactional_db, browser_page):
    from playwright.sync_api import expect

    team = Team.objects.create(name="Sales")
    sam = make_user("sam", "member", team, time_zone="Europe/Berlin")
    overdue = task(sam, "2020-01-01T09:00:00Z", "Send the proposal")
    task(sam, (timezone.now() + dt.timedelta(days=2)).isoformat(), "Prepare the demo")
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/my-day/")
    expect(page.locator("#nav-my-day .badge")).to_have_text("1")  # loaded by htmx after the page

    row = page.locator("#bucket-upcoming tr", has_text="Prepare the demo")
    row.locator("select[name=minutes]").select_option("60")
    expect(page.locator("#my-day .flash-success")).to_contain_text("Reminder 1 hour before")
    assert Reminder.objects.get().minutes_before == 60

    row = page.locator("#bucket-upcoming tr", has_text="Prepare the demo")
    row.locator("summary").click()
    row.locator("input[name=when]").fill("2030-05-06T10:30")
    row.locator("button:has-text('Move')").click()
    expect(page.locator("#my-day .flash-success")).to_contain_text("moved to Mon 06 May 10:30")
    assert Reminder.objects.get().fire_at == dt.datetime(2030, 5, 6, 7, 30, tzinfo=dt.UTC)  # 10:30 CEST − 1 h

    page.locator("#bucket-overdue tr", has_text="Send the proposal").locator("button:has-text('Done')").click()
    expect(page.locator("#my-day .flash-success")).to_contain_text("is done")
    expect(page.locator("#my-day")).to_contain_text("Nothing on your plate")  # the demo moved out of the week
    assert Activity.objects.get(pk=overdue.pk).done
