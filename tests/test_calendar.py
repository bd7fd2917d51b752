"""The calendar: the secret iCalendar feed, .ics meeting invites, and the week/month page."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from freezegun import freeze_time
from icalendar import Calendar

from rapport.accounts.models import Team
from rapport.activities.models import Activity, CalendarFeed
from rapport.core import services

from .browser import CHROMIUM, PASSWORD, page_fixture
from .conftest import make_user, write


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_feed(client: Client, action: str = "create") -> str:
    """Press the button on the calendar page and read the URL it shows once."""
    response = client.post("/calendar/feed/", {"action": action})
    assert response.status_code == 302
    page = client.get("/calendar/").content.decode()
    match = re.search(r'value="(http://testserver/calendar/feed/cal_[A-Za-z0-9_-]+\.ics)"', page)
    assert match, "the new feed URL is shown"
    assert match.group(1) not in client.get("/calendar/").content.decode()  # ... only once
    return match.group(1).removeprefix("http://testserver")


@pytest.fixture(autouse=True)
def site_url(settings: Any) -> None:
    # UIDs carry the installation's own host, whatever its port and path.
    settings.RAPPORT_SITE_URL = "https://testserver.example:8443/crm/"


def events(body: bytes) -> dict[str, Any]:
    cal = Calendar.from_ical(body)
    return {str(e["uid"]): e for e in cal.walk("VEVENT")}


@pytest.fixture
def agenda(users: dict[str, Any]) -> dict[str, Activity]:
    now = timezone.now().replace(microsecond=0)
    member, peer = users["member"], users["peer"]
    out = {
        "task": write(
            "activities",
            {
                "subject": "Send proposal",
                "due_at": iso(now + dt.timedelta(days=2)),
                "body": "Price <b>list</b>; a, b\nnext line",
            },
            actor=member,
        ),
        "meeting": write(
            "activities",
            {
                "kind": "meeting",
                "subject": "Demo",
                "start_at": iso(now + dt.timedelta(days=5)),
                "duration_minutes": 45,
            },
            actor=member,
        ),
        "done": write(
            "activities",
            {"subject": "Call back", "due_at": iso(now - dt.timedelta(days=3)), "done": True},
            actor=member,
        ),
        "old": write("activities", {"subject": "Ancient", "due_at": iso(now - dt.timedelta(days=40))}, actor=member),
        "far": write("activities", {"subject": "Far off", "due_at": iso(now + dt.timedelta(days=400))}, actor=member),
        "peers": write("activities", {"subject": "Peer's task", "due_at": iso(now + dt.timedelta(days=1))}, actor=peer),
        "note": write("activities", {"kind": "note", "subject": "A note"}, actor=member),
        "deleted": write("activities", {"subject": "Gone", "due_at": iso(now + dt.timedelta(days=1))}, actor=member),
        # made by the peer, assigned to the member: it is the member's
        "assigned": write(
            "activities",
            {"subject": "Assigned to me", "due_at": iso(now + dt.timedelta(days=4)), "assignee": member.pk},
            actor=peer,
        ),
    }
    services.delete_record(out["deleted"], actor=member, source="system")
    return out


def test_feed_lists_exactly_the_owners_items_in_the_window(users, agenda, django_assert_max_num_queries):
    url = make_feed(client_for(users["member"]))
    anonymous = Client()
    with django_assert_max_num_queries(3):
        response = anonymous.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert "private" in response["Cache-Control"]
    assert "Set-Cookie" not in response  # no session for the feed
    found = events(response.content)
    expected = {f"activity-{agenda[k].pk}@testserver.example" for k in ("task", "meeting", "done", "assigned")}
    assert set(found) == expected

    task = found[f"activity-{agenda['task'].pk}@testserver.example"]
    assert str(task["summary"]) == "Send proposal"
    start = task.decoded("dtstart")
    assert start.utcoffset() == dt.timedelta(0) and start == agenda["task"].due_at
    assert task.to_ical().decode().count("DTSTART:") == 1 and "Z\r\n" in task.to_ical().decode()
    assert "Price <b>list</b>; a, b\nnext line" in str(task["description"])  # plain text, escaped for iCalendar
    assert f"/activities/{agenda['task'].pk}/" in str(task["url"])
    assert task.decoded("last-modified") and task.decoded("dtstamp")

    meeting = found[f"activity-{agenda['meeting'].pk}@testserver.example"]
    assert meeting.decoded("dtend") - meeting.decoded("dtstart") == dt.timedelta(minutes=45)
    assert str(found[f"activity-{agenda['done'].pk}@testserver.example"]["summary"]) == "✓ Call back"
    assert CalendarFeed.objects.get(user=users["member"]).last_used_at is not None

    # the UID stays the same when the activity changes
    write("activities", {"subject": "Send the proposal"}, actor=users["member"], instance=agenda["task"])
    again = events(anonymous.get(url).content)
    assert str(again[f"activity-{agenda['task'].pk}@testserver.example"]["summary"]) == "Send the proposal"
    assert again[f"activity-{agenda['task'].pk}@testserver.example"].decoded("sequence") == 1  # clients take the update
    assert anonymous.head(url).status_code == 200


def test_feed_query_count_does_not_grow_with_items(users, agenda, django_assert_max_num_queries):
    url = make_feed(client_for(users["member"]))
    now = timezone.now()
    for i in range(20):
        write(
            "activities",
            {"subject": f"Task {i}", "due_at": iso(now + dt.timedelta(hours=i + 1))},
            actor=users["member"],
        )
    with django_assert_max_num_queries(3):
        response = Client().get(url)
    assert len(events(response.content)) == 24


def test_revoked_regenerated_and_wrong_tokens_answer_404(users, agenda):
    client = client_for(users["member"])
    first = make_feed(client)
    assert Client().get(first).status_code == 200
    feed = CalendarFeed.objects.get(user=users["member"])
    assert first.split("/")[-1].removesuffix(".ics") not in feed.digest  # only a hash is stored
    second = make_feed(client, "regenerate")
    assert second != first
    assert Client().get(first).status_code == 404
    assert Client().get(second).status_code == 200
    assert Client().get("/calendar/feed/cal_notarealtokenatall.ics").status_code == 404
    assert Client().get("/calendar/feed/nope.ics").status_code == 404
    assert client.post("/calendar/feed/", {"action": "revoke"}).status_code == 302
    assert Client().get(second).status_code == 404
    assert not CalendarFeed.objects.filter(user=users["member"]).exists()
    # a deactivated user's feed stops too
    third = make_feed(client)
    users["member"].is_active = False
    users["member"].save()
    assert Client().get(third).status_code == 404


def test_feed_settings_need_a_session_and_a_known_action(users):
    assert Client().post("/calendar/feed/", {"action": "create"}).status_code == 302  # to the login page
    assert not CalendarFeed.objects.exists()
    response = client_for(users["member"]).post("/calendar/feed/", {"action": "explode"})
    assert response.status_code == 400 and "action" in response.content.decode()
    assert not CalendarFeed.objects.exists()


def test_meeting_invite(users, agenda):
    users["member"].email = "member@example.com"
    users["member"].save()
    meeting = agenda["meeting"]
    response = client_for(users["member"]).get(f"/activities/{meeting.pk}/invite.ics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(response.content)
    assert str(cal["method"]) == "PUBLISH"
    (event,) = cal.walk("VEVENT")
    assert str(event["uid"]) == f"activity-{meeting.pk}@testserver.example"
    assert event.decoded("dtstart") == meeting.start_at and event.decoded("dtend") == meeting.end_at
    assert str(event["organizer"]) == "mailto:member@example.com"
    assert str(event["attendee"]) == "mailto:member@example.com"
    # same team may see it; another team, a non-meeting or no session may not
    assert client_for(users["peer"]).get(f"/activities/{meeting.pk}/invite.ics").status_code == 200
    assert client_for(users["outsider"]).get(f"/activities/{meeting.pk}/invite.ics").status_code == 404
    assert client_for(users["member"]).get(f"/activities/{agenda['task'].pk}/invite.ics").status_code == 404
    assert client_for(users["member"]).get("/activities/999999/invite.ics").status_code == 404
    assert Client().get(f"/activities/{meeting.pk}/invite.ics").status_code == 302


def test_page_buckets_items_in_the_users_time_zone(users, django_assert_max_num_queries):
    member = users["member"]
    member.time_zone = "Europe/Berlin"
    member.save()
    late = write("activities", {"subject": "Late task", "due_at": "2026-12-16T23:30:00Z"}, actor=member)
    write(
        "activities",
        {"kind": "meeting", "subject": "Board <meeting>", "start_at": "2026-12-14T08:00:00Z", "duration_minutes": 30},
        actor=member,
    )
    trip = {
        "kind": "meeting",
        "subject": "Offsite",
        "start_at": "2026-12-18T15:00:00Z",
        "end_at": "2026-12-20T23:00:00Z",
    }
    write("activities", trip, actor=member)  # ends at midnight in Berlin: not on the 21st
    fair = {
        "kind": "meeting",
        "subject": "Trade fair",
        "start_at": "2026-12-12T08:00:00Z",
        "end_at": "2026-12-15T16:00:00Z",
    }
    write("activities", fair, actor=member)  # began the week before
    write("activities", {"subject": "Peer's", "due_at": "2026-12-15T10:00:00Z"}, actor=users["peer"])
    write("activities", {"subject": "Outsider's", "due_at": "2026-12-15T10:00:00Z"}, actor=users["outsider"])
    client = client_for(member)
    with django_assert_max_num_queries(7):
        response = client.get("/calendar/", {"view": "week", "date": "2026-12-16"})
    assert response.status_code == 200
    html = response.content.decode()
    days = dict(re.findall(r'data-date="([\d-]+)">(.*?)</ul>', html, re.S))
    assert list(days) == [f"2026-12-{d}" for d in range(14, 21)]  # Monday to Sunday
    assert "Late task" in days["2026-12-17"] and "12:30\u202fAM" in days["2026-12-17"]  # Berlin is UTC+1
    assert "Late task" not in days["2026-12-16"]
    assert "Board &lt;meeting&gt;" in days["2026-12-14"] and "9:00\u202fAM" in days["2026-12-14"]
    assert [d for d in days if "Offsite" in days[d]] == ["2026-12-18", "2026-12-19", "2026-12-20"]
    assert "4:00\u202fPM" in days["2026-12-18"] and "continued" in days["2026-12-19"]
    assert [d for d in days if "Trade fair" in days[d]] == ["2026-12-14", "2026-12-15"]
    assert f'href="/activities/{late.pk}/"' in html
    assert "Peer&#x27;s" not in html and "Outsider" not in html
    # the team toggle adds the peer's, never the other team's
    team = client.get("/calendar/", {"view": "week", "date": "2026-12-16", "scope": "team"}).content.decode()
    assert "Peer&#x27;s" in team and "Outsider" not in team

    month = client.get("/calendar/", {"view": "month", "date": "2026-12-05"}).content.decode()
    month_days = re.findall(r'data-date="([\d-]+)"', month)
    assert month_days[0] == "2026-11-30" and month_days[-1] == "2027-01-03" and len(month_days) == 35
    assert "Late task" in dict(re.findall(r'data-date="([\d-]+)">(.*?)</ul>', month, re.S))["2026-12-17"]
    assert "?view=month&amp;date=2026-11-01" in month and "?view=month&amp;date=2027-01-01" in month
    assert "Calendar · December 2026</h1>" in month


def test_page_speaks_the_users_locale(users: dict[str, Any]) -> None:
    """Weekdays, days, the period and times read as the viewer's locale writes them (Berlin, de-DE)."""
    member = users["member"]
    member.time_zone, member.locale = "Europe/Berlin", "de-DE"
    member.save(update_fields=["time_zone", "locale"])
    write("activities", {"subject": "Late task", "due_at": "2026-12-16T23:30:00Z"}, actor=member)
    client = client_for(member)
    week = client.get("/calendar/", {"view": "week", "date": "2026-12-16"}).content.decode()
    assert "Calendar · 14.–20. Dez. 2026</h1>" in week
    heads = re.findall(r'role="columnheader">(.*?)</div>', week)
    assert heads == ["Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."]
    days = dict(re.findall(r'data-date="([\d-]+)">(.*?)</ul>', week, re.S))
    assert '<span class="calendar-wd">Do.</span> 17. Dez.</div>' in days["2026-12-17"]
    assert "00:30" in days["2026-12-17"] and "AM" not in days["2026-12-17"]
    month = client.get("/calendar/", {"view": "month", "date": "2026-12-05"}).content.decode()
    assert "Calendar · Dezember 2026</h1>" in month
    month_days = dict(re.findall(r'data-date="([\d-]+)">\s*<div class="calendar-date">(.*?)</div>', month, re.S))
    assert month_days["2026-12-01"] == "1. Dez." and month_days["2026-12-17"] == "17"
    assert month_days["2027-01-01"] == "1. Jan."


def test_page_query_count_does_not_grow_with_items(users, django_assert_max_num_queries):
    for i in range(30):
        write(
            "activities", {"subject": f"T{i}", "due_at": f"2026-12-{1 + i % 28:02d}T10:00:00Z"}, actor=users["member"]
        )
    client = client_for(users["member"])
    with django_assert_max_num_queries(7):
        response = client.get("/calendar/", {"view": "month", "date": "2026-12-01", "scope": "team"})
    assert response.content.decode().count('class="calendar-item kind-') == 30


def test_empty_state_and_feed_controls(users):
    html = client_for(users["member"]).get("/calendar/").content.decode()
    assert "Nothing scheduled" in html and 'value="create"' in html
    assert 'href="/calendar/"' in html  # the nav link
    assert "<script>" not in html and 'style="' not in html


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"view": "year"}, "view"),
        ({"date": "2026-13-01"}, "date"),
        ({"date": "yesterday"}, "date"),
        ({"scope": "everyone"}, "scope"),
    ],
)
def test_bad_parameters_answer_400_naming_them(users, params, named):
    response = client_for(users["member"]).get("/calendar/", params)
    assert response.status_code == 400
    assert f"{named}:" in response.content.decode()


browser_page = page_fixture()


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_calendar_in_the_browser(live_server: Any, transactional_db: Any, browser_page: Any) -> None:
    from playwright.sync_api import expect

    team = Team.objects.create(name="Sales")
    user = make_user("sam", "member", team, time_zone="Europe/Berlin")
    today = timezone.now().astimezone(zoneinfo.ZoneInfo("Europe/Berlin")).replace(hour=12, minute=0, second=0)
    write("activities", {"kind": "meeting", "subject": "Kick-off", "start_at": iso(today)}, actor=user)
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "sam")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/calendar/")  # (in the navigation's More menu at this width)
    expect(page.locator(".calendar-day.is-today")).to_contain_text("Kick-off")
    page.click("text=Make a feed address")
    expect(page.locator("#feed-url")).to_have_value(re.compile(r"/calendar/feed/cal_[\w-]+\.ics$"))
    page.click("[data-copy]")
    expect(page.locator("[data-copy]")).to_have_text("Copied")
    feed = page.request.get(page.input_value("#feed-url"))
    assert feed.status == 200 and "Kick-off" in str(Calendar.from_ical(feed.body()).walk("VEVENT")[0]["summary"])
    page.click("text=Month")
    expect(page.locator("h1")).to_contain_text(today.strftime("%B %Y"))
    page.click("[aria-label='Next month']")
    page.click("text=Today")
    expect(page.locator(".calendar-day.is-today")).to_contain_text("Kick-off")


def test_dtstamp_is_the_items_last_change_not_the_download_time(users, agenda):
    url = make_feed(client_for(users["member"]))
    anonymous = Client()
    task = agenda["task"]
    task.refresh_from_db()
    first = events(anonymous.get(url).content)[f"activity-{task.pk}@testserver.example"]
    assert first.decoded("dtstamp") == task.updated_at.replace(microsecond=0)
    again = events(anonymous.get(url).content)[f"activity-{task.pk}@testserver.example"]
    assert again.decoded("dtstamp") == first.decoded("dtstamp")  # a second download changes nothing

    with freeze_time(timezone.now() + dt.timedelta(minutes=5)):
        write("activities", {"subject": "Send the proposal"}, actor=users["member"], instance=task)
    task.refresh_from_db()
    changed = events(anonymous.get(url).content)[f"activity-{task.pk}@testserver.example"]
    assert changed.decoded("dtstamp") == task.updated_at.replace(microsecond=0) > first.decoded("dtstamp")


def test_uid_host_follows_the_site_url(users, agenda, settings):
    settings.RAPPORT_SITE_URL = "http://[::1]:8000"
    meeting = agenda["meeting"]
    cal = Calendar.from_ical(client_for(users["member"]).get(f"/activities/{meeting.pk}/invite.ics").content)
    (event,) = cal.walk("VEVENT")
    assert str(event["uid"]) == f"activity-{meeting.pk}@::1"


def unescape(text: str) -> str:
    """RFC 5545 §3.3.11 TEXT unescaping (icalendar leaves X- properties as they were written)."""
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] in "nN" else m[1], text)


def test_calendar_names_are_escaped(users, agenda):
    member = users["member"]
    member.first_name, member.last_name = "Ann, the; boss", "B\\Rown"
    member.save()
    url = make_feed(client_for(member))
    body = Client().get(url).content
    assert b"X-WR-CALNAME:Rapport \xc2\xb7 Ann\\, the\\; boss B\\\\Rown\r\n" in body
    cal = Calendar.from_ical(body)
    assert unescape(str(cal["x-wr-calname"])) == "Rapport · Ann, the; boss B\\Rown"
    assert len(cal.walk("VEVENT")) == 4  # the name did not swallow or split any line

    meeting = agenda["meeting"]
    write("activities", {"subject": "Kick-off; budget, scope"}, actor=member, instance=meeting)
    invite = client_for(member).get(f"/activities/{meeting.pk}/invite.ics").content
    assert b"X-WR-CALNAME:Kick-off\\; budget\\, scope\r\n" in invite
    assert unescape(str(Calendar.from_ical(invite)["x-wr-calname"])) == "Kick-off; budget, scope"
