"""Sequences: business-day delays and the sending window worked out by hand, the steps running through a stand-in
for compose (the interface of docs/email.md), the stops (reply, bounce, unsubscribe, meeting), pause and resume,
the daily cap under parallel workers, and a worker dying mid-step."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from rapport.accounts.models import Team
from rapport.activities.models import Activity
from rapport.mail.models import Mailbox, Message, Thread
from rapport.sequences import mailer, schedule, services
from rapport.sequences.models import DailySendCount, Enrolment, StepRun

from .conftest import make_user, write

UTC = dt.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
LOS_ANGELES = zoneinfo.ZoneInfo("America/Los_Angeles")
NINE, FIVE = dt.time(9), dt.time(17)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


# --- business days and the window, by hand --------------------------------------------------------------------
# November 2026: Fri 27, Sat 28, Sun 29, Mon 30; December: Tue 1, Thu 24, Fri 25, Mon 28.
def test_business_days_skip_weekends_and_holidays():
    assert schedule.add_business_days(dt.date(2026, 11, 27), 1) == dt.date(2026, 11, 30)  # Fri + 1 = Mon
    assert schedule.add_business_days(dt.date(2026, 11, 26), 2) == dt.date(2026, 11, 30)  # Thu + 2 = Mon
    assert schedule.add_business_days(dt.date(2026, 11, 28), 1) == dt.date(2026, 11, 30)  # Sat + 1 = Mon
    assert schedule.add_business_days(dt.date(2026, 11, 30), 0) == dt.date(2026, 11, 30)
    holidays = {dt.date(2026, 12, 25)}
    assert schedule.add_business_days(dt.date(2026, 12, 24), 1, holidays) == dt.date(2026, 12, 28)  # Thu+1, Fri off


def test_step_due_at_keeps_the_local_time_and_moves_into_the_window():
    # Friday 16:30 in Berlin (15:30 UTC), 2 business days: Tuesday 16:30 Berlin, inside 09-17.
    assert schedule.step_due_at(utc(2026, 11, 27, 15, 30), 2, BERLIN, NINE, FIVE) == utc(2026, 12, 1, 15, 30)
    # Friday 18:00 in New York (23:00 UTC), no delay: past the window and the weekend follows -> Monday 09:00 NY.
    assert schedule.step_due_at(utc(2026, 11, 27, 23, 0), 0, NEW_YORK, NINE, FIVE) == utc(2026, 11, 30, 14, 0)
    # Saturday 00:30 UTC is still Friday 16:30 in Los Angeles: inside its window, now.
    assert schedule.step_due_at(utc(2026, 11, 28, 0, 30), 0, LOS_ANGELES, NINE, FIVE) == utc(2026, 11, 28, 0, 30)
    # ... and one business day later is Monday 16:30 there (Tuesday 00:30 UTC), not Sunday.
    assert schedule.step_due_at(utc(2026, 11, 28, 0, 30), 1, LOS_ANGELES, NINE, FIVE) == utc(2026, 12, 1, 0, 30)
    # Tuesday 07:00 Berlin (06:00 UTC) waits for 09:00 Berlin (08:00 UTC).
    assert schedule.step_due_at(utc(2026, 12, 1, 6, 0), 0, BERLIN, NINE, FIVE) == utc(2026, 12, 1, 8, 0)
    # Across the spring-forward weekend: Friday 10:00 CET (09:00 UTC) + 1 = Monday 10:00 CEST (08:00 UTC).
    assert schedule.step_due_at(utc(2027, 3, 26, 9, 0), 1, BERLIN, NINE, FIVE) == utc(2027, 3, 29, 8, 0)
    # A holiday is skipped like a weekend: Thursday 24 Dec 10:00 UTC + 1 with the 25th off = Monday 28th.
    holidays = {dt.date(2026, 12, 25)}
    assert schedule.step_due_at(utc(2026, 12, 24, 10), 1, zoneinfo.ZoneInfo("UTC"), NINE, FIVE, holidays) == utc(
        2026, 12, 28, 10
    )


def test_recipient_zone_person_then_company_then_organisation():
    company = SimpleNamespace(custom={"time_zone": "Asia/Tokyo"})
    assert schedule.recipient_zone(SimpleNamespace(custom={"time_zone": "Europe/Berlin"}, company=company)) == (
        "Europe/Berlin"
    )
    assert schedule.recipient_zone(SimpleNamespace(custom={"time_zone": "Mars/Base"}, company=company)) == "Asia/Tokyo"
    with override_settings(TIME_ZONE="America/New_York"):
        assert schedule.recipient_zone(SimpleNamespace(custom={}, company=None)) == "America/New_York"


# --- a stand-in for compose -------------------------------------------------------------------------------------
class FakeCompose:
    """compose.services.send_email as docs/email.md defines it: the message is queued with the caller's
    transaction; here it is stored at once as the sent Message (direction "out"), threaded by in_reply_to."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self.suppressed: set[str] = set()
        self.calls: list[dict[str, Any]] = []

    def send_email(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        previous = kwargs["in_reply_to"]
        thread = (
            previous.thread
            if previous is not None
            else Thread.objects.create(mailbox=self.mailbox, subject=kwargs["subject"])
        )
        n = Message.objects.count() + 1
        message = Message.objects.create(
            mailbox=self.mailbox,
            thread=thread,
            direction="out",
            message_id=f"step{n}@rapport.test",
            in_reply_to=previous.message_id if previous is not None else "",
            subject=kwargs["subject"],
            from_address=self.mailbox.address,
            to=[{"name": "", "address": a} for a in kwargs["to"]],
            body_html=kwargs["body_html"],
        )
        # The OutgoingMessage id is the stored message's here.
        return SimpleNamespace(pk=message.pk, enrolment=kwargs["sequence_enrolment_id"])

    def sent_message(self, outgoing_id: int | None) -> Message | None:
        return Message.objects.filter(pk=outgoing_id).first() if outgoing_id else None

    def enrolments_in_thread(self, thread_id: int) -> set[int]:
        out = Message.objects.filter(thread_id=thread_id, direction="out").values_list("pk", flat=True)
        return set(StepRun.objects.filter(outgoing_id__in=list(out)).values_list("enrolment_id", flat=True))

    def is_suppressed(self, address: str) -> bool:
        return address.lower() in self.suppressed

    def sent(self) -> list[Message]:
        return list(Message.objects.filter(direction="out").order_by("id"))


@pytest.fixture
def sender(users):
    user = users["member"]
    user.email, user.time_zone = "member@ours.test", "Europe/Berlin"
    user.save()
    return user


@pytest.fixture
def compose(monkeypatch, sender):
    mailbox = Mailbox.objects.create(
        name="Member", address="member@ours.test", owner=sender, imap_host="127.0.0.1", username="member"
    )
    fake = FakeCompose(mailbox)
    for name in ("send_email", "sent_message", "enrolments_in_thread", "is_suppressed"):
        monkeypatch.setattr(mailer, name, getattr(fake, name))
    return fake


def three_steps(actor: Any, **extra: Any) -> Any:
    return services.create_sequence(
        actor=actor,
        name="Trial follow-up",
        steps=[
            {
                "kind": "email",
                "delay_days": 0,
                "subject": "Hello {{ person.first_name }}",
                "body": "Hi {{ person.first_name }} & co",
            },
            {"kind": "task", "delay_days": 2, "subject": "Call {{ person.full_name }}"},
            {"kind": "email", "delay_days": 1, "body": "Any thoughts, {{ person.first_name }}?"},
        ],
        **extra,
    )


# Monday 30 November 2026, 10:00 UTC (11:00 in Berlin, the organisation's zone in these tests).
MONDAY = utc(2026, 11, 30, 10, 0)


@pytest.fixture(autouse=True)
def _berlin():
    with override_settings(TIME_ZONE="Europe/Berlin"):
        yield


def test_steps_run_in_order_as_one_thread_with_a_task_between(compose, sender, person):
    sequence = three_steps(sender)
    result = services.enrol_people(sequence, [person], actor=sender, now=MONDAY)
    (enrolment,) = result.enrolled
    assert enrolment.next_run_at == MONDAY and enrolment.time_zone == "Europe/Berlin"
    assert enrolment.mailbox == compose.mailbox

    assert services.run_due_steps(MONDAY)["sent"] == 1
    (first,) = compose.sent()
    assert first.subject == "Hello Ada" and first.to == [{"name": "", "address": "ada@acme.com"}]
    assert first.body_html == "<p>Hi Ada &amp; co</p>"
    assert compose.calls[0]["in_reply_to"] is None and compose.calls[0]["sequence_enrolment_id"] == enrolment.pk
    enrolment.refresh_from_db()
    # The task is 2 business days later at the same local time: Wednesday 2 December 10:00 UTC.
    assert enrolment.position == 1 and enrolment.next_run_at == utc(2026, 12, 2, 10, 0)

    assert services.run_due_steps(utc(2026, 12, 2, 9, 59)) == {k: 0 for k in services.run_due_steps(MONDAY)}
    assert services.run_due_steps(utc(2026, 12, 2, 10, 0))["tasks"] == 1
    task = Activity.objects.get(kind="task")
    assert task.subject == "Call Ada Lovelace" and task.assignee == sender and task.owner == sender
    assert task.due_at == utc(2026, 12, 2, 10, 0)
    assert [(link.type_key, link.record_id) for link in task.links.all()] == [("people", person.pk)]
    enrolment.refresh_from_db()
    assert enrolment.next_run_at == utc(2026, 12, 3, 10, 0)

    assert services.run_due_steps(utc(2026, 12, 3, 10, 0))["sent"] == 1
    second = compose.sent()[1]
    assert second.subject == "Re: Hello Ada" and second.thread_id == first.thread_id
    assert compose.calls[1]["in_reply_to"] == first and second.in_reply_to == first.message_id
    enrolment.refresh_from_db()
    assert (enrolment.state, enrolment.position, enrolment.next_run_at) == ("finished", 3, None)
    assert list(StepRun.objects.filter(enrolment=enrolment).values_list("position", "outcome")) == [
        (0, "sent"),
        (1, "task"),
        (2, "sent"),
    ]


def test_an_email_due_outside_the_window_waits_for_it_in_the_recipients_zone(compose, sender, person):
    sequence = three_steps(sender)
    # Friday 27 November 17:30 Berlin (16:30 UTC): past the window, the weekend follows -> Monday 09:00 Berlin.
    (enrolment,) = services.enrol_people(sequence, [person], actor=sender, now=utc(2026, 11, 27, 16, 30)).enrolled
    assert enrolment.next_run_at == utc(2026, 11, 30, 8, 0)
    # A due step found outside the window (the sequence's window narrowed meanwhile) is moved, not sent.
    sequence.window_start = dt.time(10)
    sequence.save()
    assert services.run_due_steps(utc(2026, 11, 30, 8, 0))["deferred"] == 1
    enrolment.refresh_from_db()
    assert enrolment.next_run_at == utc(2026, 11, 30, 9, 0) and compose.sent() == []


def test_one_open_enrolment_per_person_and_sequence(compose, sender, person):
    sequence = three_steps(sender)
    assert len(services.enrol_people(sequence, [person], actor=sender, now=MONDAY).enrolled) == 1
    again = services.enrol_people(sequence, [person], actor=sender, now=MONDAY)
    assert again.enrolled == [] and again.already == [person.pk]
    services.stop_enrolment(Enrolment.objects.get(), reason="manual")
    assert len(services.enrol_people(sequence, [person], actor=sender, now=MONDAY).enrolled) == 1


def test_a_person_without_an_email_is_reported(compose, sender):
    nobody = write("people", {"first_name": "No", "last_name": "Mail"}, actor=sender)
    result = services.enrol_people(three_steps(sender), [nobody], actor=sender, now=MONDAY)
    assert result.as_dict() == {"enrolled": [], "already_enrolled": [], "no_email": [nobody.pk]}


def _reply(
    compose: FakeCompose, person: Any, *, thread: Thread | None = None, at: dt.datetime, **extra: Any
) -> Message:
    thread = thread or Thread.objects.create(mailbox=compose.mailbox, subject="Re: Hello Ada")
    message = Message.objects.create(
        mailbox=compose.mailbox,
        thread=thread,
        direction="in",
        message_id=f"reply{Message.objects.count()}@acme.com",
        from_address=extra.pop("from_address", "ada@acme.com"),
        subject="Re: Hello Ada",
        received_at=at,
        **extra,
    )
    return message


def test_a_reply_stops_the_enrolment_through_the_received_hook(compose, sender, person):
    (enrolment,) = services.enrol_people(three_steps(sender), [person], actor=sender, now=MONDAY).enrolled
    services.run_due_steps(MONDAY)
    # A colleague answers from another address, in the step's thread: it still counts.
    reply = _reply(
        compose, person, thread=compose.sent()[0].thread, at=utc(2026, 12, 1, 9), from_address="bob@acme.com"
    )
    assert services.on_message_received(reply) == 1
    enrolment.refresh_from_db()
    assert (enrolment.state, enrolment.stop_reason, enrolment.next_run_at) == ("stopped", "replied", None)
    assert services.run_due_steps(utc(2026, 12, 10, 10))["tasks"] == 0
    assert len(compose.sent()) == 1


def test_the_batch_hook_asks_once_when_no_enrolment_could_be_answered(compose, sender, person):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    mail = [_reply(compose, person, at=MONDAY - dt.timedelta(hours=h)) for h in range(1, 21)]
    with CaptureQueriesContext(connection) as ctx:
        assert services.on_messages_received(mail) == 0  # no enrolment at all
    assert len(ctx.captured_queries) == 1
    (enrolment,) = services.enrol_people(three_steps(sender), [person], actor=sender, now=MONDAY).enrolled
    services.run_due_steps(MONDAY)
    early = [_reply(compose, person, at=MONDAY - dt.timedelta(days=d)) for d in (1, 2)]
    with CaptureQueriesContext(connection) as ctx:
        assert services.on_messages_received(early) == 0  # all of it older than the enrolment
    assert len(ctx.captured_queries) == 1
    sent = compose.sent()[0]
    sent.direction = "out"
    # in a batch: one mail from someone else, the sent step itself, then Ada's answer
    stranger = _reply(compose, person, at=utc(2026, 12, 1, 9), from_address="nobody@else.example")
    answer = _reply(compose, person, at=utc(2026, 12, 1, 10))
    assert services.on_messages_received([stranger, sent, answer]) == 1
    enrolment.refresh_from_db()
    assert (enrolment.state, enrolment.stop_reason) == ("stopped", "replied")


def test_a_reply_the_hook_missed_is_found_before_the_next_step(compose, sender, person):
    (enrolment,) = services.enrol_people(three_steps(sender), [person], actor=sender, now=MONDAY).enrolled
    services.run_due_steps(MONDAY)
    _reply(compose, person, at=utc(2026, 12, 1, 9))  # from Ada, in a thread of her own; no hook ran
    assert services.run_due_steps(utc(2026, 12, 2, 10))["stopped"] == 1
    enrolment.refresh_from_db()
    assert (enrolment.state, enrolment.stop_reason) == ("stopped", "replied")
    assert not Activity.objects.filter(kind="task").exists()


def test_mail_from_the_person_before_the_enrolment_does_not_stop_it(compose, sender, person):
    _reply(compose, person, at=MONDAY - dt.timedelta(days=3))
    (enrolment,) = services.enrol_people(three_steps(sender), [person], actor=sender, now=MONDAY).enrolled
    assert services.run_due_steps(MONDAY)["sent"] == 1


def test_a_bounce_in_the_thread_stops_it_as_bounced(compose, sender, person):
    (enrolment,) = services.enrol_people(three_steps(sender), [person], actor=sender, now=MONDAY).enrolled
    services.run_due_steps(MONDAY)
    dsn = _reply(
        compose,
        person,
        thread=compose.sent()[0].thread,
        at=utc(2026, 11, 30, 10, 1),
        from_address="mailer-daemon@acme.com",
        is_bounce=True,
    )
    services.on_message_received(dsn)
    enrolment.refresh_from_db()
    assert (enrolment.state, enrolment.stop_reason) == ("stopped", "bounced")


def test_unsubscribe_stops_every_later_send(compose, sender, person, users):
    other = write("people", {"first_name": "Grace", "emails": ["grace@acme.com"]}, actor=sender)
    first, second = (
        three_steps(sender),
        services.create_sequence(actor=sender, name="Another", steps=[{"kind": "email", "subject": "Hi", "body": "x"}]),
    )
    services.enrol_people(first, [person, other], actor=sender, now=MONDAY)
    services.run_due_steps(MONDAY)
    assert len(compose.sent()) == 2
    compose.suppressed.add("ada@acme.com")  # Ada clicked the one-click unsubscribe of that email
    services.enrol_people(second, [person], actor=sender, now=MONDAY)
    services.run_due_steps(utc(2026, 12, 10, 10))
    services.run_due_steps(utc(2026, 12, 11, 10))
    assert [m.to[0]["address"] for m in compose.sent()] == ["ada@acme.com", "grace@acme.com", "grace@acme.com"]
    ada = Enrolment.objects.filter(person=person)
    assert sorted(ada.values_list("state", "stop_reason")) == [("stopped", "unsubscribed")] * 2
    assert not Activity.objects.filter(kind="task", links__record_id=person.pk).exists()


def test_a_meeting_booked_after_enrolment_stops_it(compose, sender, person):
    (enrolment,) = services.enrol_people(three_steps(sender), [person], actor=sender, now=MONDAY).enrolled
    services.run_due_steps(MONDAY)
    write(
        "activities",
        {
            "kind": "meeting",
            "subject": "Demo",
            "start_at": "2026-12-04T10:00:00Z",
            "links": [{"type": "people", "id": person.pk}],
        },
        actor=sender,
    )
    assert services.run_due_steps(utc(2026, 12, 2, 10))["stopped"] == 1
    enrolment.refresh_from_db()
    assert enrolment.stop_reason == "meeting_booked"


def test_the_meeting_event_stops_it_at_once(compose, sender, person):
    from rapport.core.models import Event

    (enrolment,) = services.enrol_people(three_steps(sender), [person], actor=sender).enrolled
    meeting = write(
        "activities",
        {
            "kind": "meeting",
            "subject": "Demo",
            "start_at": "2026-12-04T10:00:00Z",
            "links": [{"type": "people", "id": person.pk}],
        },
        actor=sender,
    )
    services.on_activity_event(Event.objects.get(type_key="activities", record_id=meeting.pk, kind="created"))
    enrolment.refresh_from_db()
    assert enrolment.stop_reason == "meeting_booked"


def test_pause_and_resume(compose, sender, person):
    (enrolment,) = services.enrol_people(three_steps(sender), [person], actor=sender, now=MONDAY).enrolled
    assert services.pause_enrolment(enrolment)
    assert services.run_due_steps(utc(2026, 12, 10, 10))["sent"] == 0
    # Resumed on Saturday 5 December 12:00 UTC: the step waits for Monday 09:00 Berlin (08:00 UTC).
    assert services.resume_enrolment(enrolment, now=utc(2026, 12, 5, 12))
    assert enrolment.state == "active" and enrolment.next_run_at == utc(2026, 12, 7, 8, 0)
    assert not services.resume_enrolment(enrolment)  # not paused any more


@override_settings(RAPPORT_SEQUENCE_DAILY_CAP=2)
def test_the_daily_cap_defers_to_the_senders_next_day(compose, sender):
    people = [write("people", {"first_name": f"P{i}", "emails": [f"p{i}@acme.com"]}, actor=sender) for i in range(3)]
    services.enrol_people(three_steps(sender), people, actor=sender, now=MONDAY)
    counts = services.run_due_steps(MONDAY)
    assert (counts["sent"], counts["deferred"]) == (2, 1)
    late = Enrolment.objects.get(position=0)
    # The sender's next day starts at Tuesday 00:00 Berlin; the recipient's window opens 09:00 Berlin (08:00 UTC).
    assert late.next_run_at == utc(2026, 12, 1, 8, 0)
    assert DailySendCount.objects.get().count == 2
    assert services.run_due_steps(utc(2026, 12, 1, 8, 0))["sent"] == 1


def test_a_worker_killed_mid_step_neither_skips_nor_repeats_it(compose, sender, person, monkeypatch):
    (enrolment,) = services.enrol_people(three_steps(sender), [person], actor=sender, now=MONDAY).enrolled
    real = services._send_step_email

    def dies_after_queueing(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)  # the email is queued and the run row written...
        raise KeyboardInterrupt  # ...and the process is gone before the commit (SIGKILL does the same)

    monkeypatch.setattr(services, "_send_step_email", dies_after_queueing)
    with pytest.raises(KeyboardInterrupt):
        services.run_due_steps(MONDAY)
    assert compose.sent() == [] and not StepRun.objects.exists() and not DailySendCount.objects.exists()
    monkeypatch.setattr(services, "_send_step_email", real)
    assert services.run_due_steps(MONDAY)["sent"] == 1  # the next worker runs the step...
    assert services.run_due_steps(MONDAY)["sent"] == 0  # ...once
    assert len(compose.sent()) == 1
    enrolment.refresh_from_db()
    assert enrolment.position == 1


def test_a_failing_step_is_retried_later_and_does_not_block_the_others(compose, sender, person, monkeypatch):
    other = write("people", {"first_name": "Grace", "emails": ["grace@acme.com"]}, actor=sender)
    services.enrol_people(three_steps(sender), [person], actor=sender, now=MONDAY - dt.timedelta(minutes=1))
    services.enrol_people(three_steps(sender), [other], actor=sender, now=MONDAY)
    real = compose.send_email

    def refuses_ada(**kwargs: Any) -> Any:
        if kwargs["to"] == ["ada@acme.com"]:
            raise mailer.ComposeMissing("Sequences send through the compose app, which is not installed.")
        return real(**kwargs)

    monkeypatch.setattr(mailer, "send_email", refuses_ada)
    counts = services.run_due_steps(MONDAY)
    assert (counts["failed"], counts["sent"]) == (1, 1)
    ada = Enrolment.objects.get(person=person)
    assert ada.next_run_at == MONDAY + services.RETRY_AFTER and "compose" in ada.last_error
    assert DailySendCount.objects.get().count == 1  # the failed step's count rolled back with it


# --- parallel workers -----------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
@override_settings(RAPPORT_SEQUENCE_DAILY_CAP=3)
def test_the_daily_cap_holds_under_two_parallel_workers(monkeypatch):
    team = Team.objects.create(name="Ops")
    user = make_user("sender", "member", team, email="sender@ours.test")
    mailbox = Mailbox.objects.create(name="S", address="sender@ours.test", owner=user, imap_host="x", username="s")
    fake = FakeCompose(mailbox)
    for name in ("send_email", "sent_message", "enrolments_in_thread", "is_suppressed"):
        monkeypatch.setattr(mailer, name, getattr(fake, name))
    people = [write("people", {"first_name": f"P{i}", "emails": [f"p{i}@acme.com"]}, actor=user) for i in range(8)]
    services.enrol_people(three_steps(user), people, actor=user, now=MONDAY)
    barrier = threading.Barrier(2)
    results: list[dict[str, int]] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(services.run_due_steps(MONDAY))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["sent"] for r in results) == 3 and sum(r["deferred"] for r in results) == 5
    assert Message.objects.filter(direction="out").count() == 3
    assert DailySendCount.objects.get().count == 3
    assert StepRun.objects.count() == 3


def test_a_later_email_waits_for_the_previous_one_to_leave_the_queue(compose, sender, person, monkeypatch):
    sequence = services.create_sequence(
        actor=sender,
        name="Two emails",
        steps=[{"kind": "email", "subject": "Hello", "body": "One"}, {"kind": "email", "body": "Two"}],
    )
    (enrolment,) = services.enrol_people(sequence, [person], actor=sender, now=MONDAY).enrolled
    monkeypatch.setattr(mailer, "sent_message", lambda outgoing_id: None)  # compose has not sent anything yet
    counts = services.run_due_steps(MONDAY)
    assert (counts["sent"], counts["deferred"]) == (1, 1)  # the second is due at once, but waits for the first
    enrolment.refresh_from_db()
    assert enrolment.next_run_at == MONDAY + services.RETRY_AFTER and len(compose.sent()) == 1
    # A day after the first one still nothing was stored: the second goes anyway (same subject, no In-Reply-To).
    assert services.run_due_steps(MONDAY + services.THREAD_WAIT + dt.timedelta(minutes=1))["sent"] == 1
    assert compose.calls[1]["in_reply_to"] is None and compose.calls[1]["subject"] == "Re: Hello"
