"""Reminders fire once at the right UTC instant (time zones, DST), move with the task, are cancelled when it is
done or deleted; the daily digest lists exactly the user's visible tasks, once per local day."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core import mail
from freezegun import freeze_time

from rapport.activities import reminders, tasks
from rapport.activities.models import Notification, OutgoingEmail, Reminder
from rapport.activities.services import complete_activity, reschedule_activity
from rapport.core.services import delete_record
from rapport.jobs.scheduler import registered

from .conftest import write

UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def task_for(user, due: str, subject: str = "Call Ada back"):
    return write("activities", {"subject": subject, "due_at": due}, actor=user)


@pytest.fixture
def member(users):
    user = users["member"]
    user.email = "member@example.com"
    user.save()
    return user


@pytest.mark.parametrize(
    ("zone", "locale", "due_utc", "fires_utc", "shown"),
    [
        # Europe/Berlin leaves summer time on 2026-10-25: 09:00 local on the 26th is 08:00 UTC (CET, +01:00).
        ("Europe/Berlin", "de-DE", "2026-10-26T08:00:00Z", utc(2026, 10, 25, 8, 0), "Due 26.10.2026, 09:00 CET"),
        # America/New_York on 2026-11-01: 09:00 local on the 2nd is 14:00 UTC (EST, -05:00).
        (
            "America/New_York",
            "en-US",
            "2026-11-02T14:00:00Z",
            utc(2026, 11, 1, 14, 0),
            "Due Nov 2, 2026, 9:00\u202fAM EST",
        ),
    ],
)
def test_one_day_reminder_fires_once_at_the_right_instant_across_dst(member, zone, locale, due_utc, fires_utc, shown):
    member.time_zone = zone
    member.locale = locale
    member.save()
    task = task_for(member, due_utc)
    reminder = reminders.set_reminder(task, 1440, actor=member)
    assert reminder.fire_at == fires_utc
    with freeze_time(fires_utc - dt.timedelta(seconds=1)):
        assert tasks.deliver_reminders.call() == 0
    assert Notification.objects.count() == 0 and mail.outbox == []
    with freeze_time(fires_utc):
        assert tasks.deliver_reminders.call() == 1
        assert tasks.deliver_reminders.call() == 0  # the job running twice delivers once
    assert Notification.objects.filter(user=member).count() == 1
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["member@example.com"]
    notification = Notification.objects.get()
    assert notification.title == "Task: Call Ada back"
    assert notification.body == shown  # in the user's zone and locale
    assert shown in mail.outbox[0].body
    assert Reminder.objects.get().status == Reminder.SENT


def test_a_second_worker_with_a_stale_view_delivers_nothing(member):
    """Two runs that both read the reminder as pending (one died after commit, or both raced): once() wins."""
    task = task_for(member, "2026-12-01T10:00:00Z")
    reminder = reminders.set_reminder(task, 15, actor=member)
    now = utc(2026, 12, 1, 9, 45)
    assert reminders._deliver(reminder, task, now) is True
    assert reminders._deliver(reminder, task, now) is False
    reminders.flush_outbox()
    reminders.flush_outbox()
    assert Notification.objects.count() == 1 and len(mail.outbox) == 1


def test_rescheduling_moves_the_reminder_and_it_can_fire_again(member):
    task = task_for(member, "2026-12-01T10:00:00Z")
    reminders.set_reminder(task, 60, actor=member)
    with freeze_time(utc(2026, 12, 1, 9, 0)):
        assert tasks.deliver_reminders.call() == 1
    task.refresh_from_db()
    reschedule_activity(task, utc(2026, 12, 3, 10, 0), actor=member, source="ui")
    # Even without a hook on the write path, the job reconciles before delivering.
    with freeze_time(utc(2026, 12, 2, 9, 0)):
        assert tasks.deliver_reminders.call() == 0
    reminder = Reminder.objects.get()
    assert reminder.fire_at == utc(2026, 12, 3, 9, 0) and reminder.status == Reminder.PENDING
    with freeze_time(utc(2026, 12, 3, 9, 0, 30)):
        assert tasks.deliver_reminders.call() == 1
    assert Notification.objects.count() == 2 and len(mail.outbox) == 2


def test_a_reminder_moved_earlier_than_now_waits_for_reconciling_not_for_the_old_time(member):
    task = task_for(member, "2026-12-01T10:00:00Z")
    reminders.set_reminder(task, 60, actor=member)
    # Moved a week later through the generic API path (no My day hook): the old fire time must not fire.
    write("activities", {"due_at": "2026-12-08T10:00:00Z"}, actor=member, instance=task)
    with freeze_time(utc(2026, 12, 1, 9, 30)):
        assert tasks.deliver_reminders.call() == 0
    assert Reminder.objects.get().fire_at == utc(2026, 12, 8, 9, 0)
    assert mail.outbox == []


def test_completing_or_deleting_cancels(member):
    done_task = task_for(member, "2026-12-01T10:00:00Z", "Done soon")
    gone_task = task_for(member, "2026-12-01T10:00:00Z", "Deleted soon")
    reminders.set_reminder(done_task, 15, actor=member)
    reminders.set_reminder(gone_task, 15, actor=member)
    complete_activity(done_task, actor=member, source="ui")
    delete_record(gone_task, actor=member, source="ui")
    with freeze_time(utc(2026, 12, 1, 10, 0)):
        assert tasks.deliver_reminders.call() == 0
    assert set(Reminder.objects.values_list("status", flat=True)) == {Reminder.CANCELLED}
    assert Notification.objects.count() == 0 and mail.outbox == []
    # Reopened: the reminder comes back.
    done_task.refresh_from_db()
    write("activities", {"done": False}, actor=member, instance=done_task)
    reminders.reconcile_reminders()
    assert Reminder.objects.get(activity=done_task).status == Reminder.PENDING


def test_the_recipient_must_still_see_the_activity(member, users):
    task = task_for(member, "2026-12-01T10:00:00Z")
    reminders.set_reminder(task, 0, actor=member)
    write("activities", {"assignee": users["outsider"].pk}, actor=member, instance=task)
    with freeze_time(utc(2026, 12, 1, 10, 0)):
        tasks.deliver_reminders.call()
    assert Notification.objects.count() == 0 and mail.outbox == []


def test_set_reminder_rules(member, users):
    note = write("activities", {"kind": "note", "subject": "Met"}, actor=member)
    with pytest.raises(reminders.ReminderError, match="Notes"):
        reminders.set_reminder(note, 15, actor=member)
    untimed = write("activities", {"subject": "Someday"}, actor=member)
    with pytest.raises(reminders.ReminderError, match="due or start time"):
        reminders.set_reminder(untimed, 15, actor=member)
    task = task_for(member, "2026-12-01T10:00:00Z")
    from rapport.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        reminders.set_reminder(task, 15, actor=users["read-only"])
    assert Reminder.objects.count() == 0
    meeting = write(
        "activities",
        {"kind": "meeting", "subject": "Demo", "start_at": "2026-12-01T10:00:00Z", "duration_minutes": 30},
        actor=member,
    )
    assert reminders.set_reminder(meeting, 30, actor=member).fire_at == utc(2026, 12, 1, 9, 30)
    assert reminders.set_reminder(meeting, None, actor=member) is None
    assert not Reminder.objects.filter(activity=meeting).exists()


def test_reminder_api(member, users, api_client_for):
    task = task_for(member, "2026-12-01T10:00:00Z")
    client = api_client_for(member)
    url = f"/api/v1/activities/{task.pk}/reminder/"
    ok = client.post(url, json.dumps({"minutes": 60}), content_type="application/json")
    assert ok.status_code == 200, ok.content
    assert ok.json()["fire_at"] == "2026-12-01T09:00:00+00:00" and ok.json()["status"] == "pending"
    bad = client.post(url, json.dumps({"minutes": -5}), content_type="application/json")
    assert bad.status_code == 400 and "minutes" in bad.json()["fields"]
    huge = client.post(url, json.dumps({"minutes": 10**6}), content_type="application/json")
    assert huge.status_code == 400 and "minutes" in huge.json()["fields"]
    assert Reminder.objects.get().minutes_before == 60
    assert api_client_for(users["outsider"]).post(url, "{}", content_type="application/json").status_code == 404
    cleared = client.post(url, json.dumps({"minutes": None}), content_type="application/json")
    assert cleared.status_code == 200 and cleared.json()["minutes"] is None
    assert Reminder.objects.count() == 0


def test_notifications_page_api_and_mark_read(member, users, client, api_client_for, django_assert_max_num_queries):
    task = task_for(member, "2026-12-01T10:00:00Z", "<b>Bold</b> move")
    reminders.set_reminder(task, 0, actor=member)
    with freeze_time(utc(2026, 12, 1, 10, 0)):
        tasks.deliver_reminders.call()
    client.force_login(member)
    with django_assert_max_num_queries(8):
        page = client.get("/notifications/")
    assert page.status_code == 200
    assert b"&lt;b&gt;Bold&lt;/b&gt; move" in page.content and b"<b>Bold</b>" not in page.content
    nav = client.get("/my-day/nav/")
    assert b"1 unread" in nav.content
    api = api_client_for(member)
    listed = api.get("/api/v1/notifications/?unread=true").json()
    assert listed["unread_count"] == 1 and listed["results"][0]["title"] == "Task: <b>Bold</b> move"
    assert api.get("/api/v1/notifications/?unread=maybe").status_code == 400
    nid = listed["results"][0]["id"]
    assert api_client_for(users["peer"]).post(f"/api/v1/notifications/{nid}/read/").status_code == 404
    assert api.post(f"/api/v1/notifications/{nid}/read/").status_code == 204
    assert api.get("/api/v1/notifications/").json()["unread_count"] == 0
    Notification.objects.update(read_at=None)
    client.post("/notifications/read/", {"id": str(nid)})
    assert not Notification.objects.filter(read_at__isnull=True).exists()


# --- daily digest -------------------------------------------------------------------------------
def test_periodic_jobs_are_registered():
    names = {p.name: p for p in registered()}
    assert names["deliver_reminders"].every == dt.timedelta(minutes=1)
    assert names["daily_digest"].every == dt.timedelta(minutes=15)


def test_digest_lists_exactly_the_users_visible_day_once_at_seven_local(member, users, client):
    member.time_zone = "America/New_York"
    member.save()
    outsider = users["outsider"]
    outsider.email = "outsider@example.com"
    outsider.time_zone = "Asia/Tokyo"
    outsider.save()
    with freeze_time(utc(2026, 11, 26, 11, 0)):  # 06:00 in New York
        task_for(member, "2026-11-25T15:00:00Z", "Overdue follow-up")
        task_for(member, "2026-11-26T20:00:00Z", "Today at 15:00")
        task_for(member, "2026-11-27T06:00:00Z", "Tomorrow 01:00 local")  # not today in New York
        write(
            "activities",
            {"kind": "meeting", "subject": "Lunch demo", "start_at": "2026-11-26T17:00:00Z"},
            actor=member,
        )
        write("activities", {"subject": "Done already", "due_at": "2026-11-26T16:00:00Z", "done": True}, actor=member)
        task_for(users["peer"], "2026-11-26T16:00:00Z", "Peer's task")
        task_for(outsider, "2026-11-26T16:00:00Z", "Other team's task")
        # Assigned to the member by another team's user, but not visible to the member: not listed.
        write(
            "activities", {"subject": "Hidden", "due_at": "2026-11-26T16:00:00Z", "assignee": member.pk}, actor=outsider
        )
        assert tasks.send_digests.call() == 0  # 06:00 local: not yet
    with freeze_time(utc(2026, 11, 26, 12, 0)):  # 07:00 in New York, 21:00 in Tokyo
        assert tasks.send_digests.call() == 1
        assert tasks.send_digests.call() == 0
    with freeze_time(utc(2026, 11, 26, 12, 15)):
        assert tasks.send_digests.call() == 0  # the same local day
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert mail.outbox[0].to == ["member@example.com"]
    listed = [line for line in body.splitlines() if line.startswith("- ")]
    assert len(listed) == 3, body
    assert "OVERDUE" in listed[0] and "Overdue follow-up" in listed[0]
    assert "12:00 Meeting: Lunch demo" in listed[1]
    assert "15:00 Task: Today at 15:00" in listed[2]
    for hidden in ("Tomorrow", "Done already", "Peer's task", "Other team's task", "Hidden"):
        assert hidden not in body


def test_digest_opt_out(member, client):
    with freeze_time(utc(2026, 11, 26, 6, 0)):
        task_for(member, "2026-11-26T10:00:00Z")
    client.force_login(member)
    page = client.get("/notifications/")
    assert b'name="daily_digest" checked' in page.content
    client.post("/notifications/settings/", {})
    assert b'name="daily_digest" checked' not in client.get("/notifications/").content
    with freeze_time(utc(2026, 11, 26, 7, 0)):  # 07:00 UTC
        assert tasks.send_digests.call() == 0
    client.post("/notifications/settings/", {"daily_digest": "on"})
    with freeze_time(utc(2026, 11, 26, 7, 15)):
        assert tasks.send_digests.call() == 1
    assert OutgoingEmail.objects.get().sent_at is not None and len(mail.outbox) == 1


def test_reminder_section_for_the_activity_page(member, client):
    """The section the activity page can include (RecordType.detail_sections), with the offsets of CHOICES."""
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    item = task_for(member, "2026-12-01T10:00:00Z")
    reminders.set_reminder(item, 1440, actor=member)
    request = RequestFactory().get(f"/activities/{item.pk}/")
    request.user = member
    html = render_to_string("activities/my_reminder_section.html", {"record": item}, request=request)
    for value, label in reminders.CHOICES:
        assert f'value="{value}"' in html and label in html
    assert 'value="1440" selected' in html
    client.force_login(member)
    back = client.post(f"/my-day/{item.pk}/reminder/", {"minutes": "15", "next": f"/activities/{item.pk}/"})
    assert back["Location"] == f"/activities/{item.pk}/"
    assert Reminder.objects.get().minutes_before == 15
    evil = client.post(f"/my-day/{item.pk}/reminder/", {"minutes": "15", "next": "//evil.example/"})
    assert evil["Location"] == "/my-day/"
