"""The quick forms on person, company and deal pages: they create linked activities and name bad fields."""

from __future__ import annotations

import datetime as dt

from django.test import Client

from rapport.activities.models import Activity
from rapport.core.models import Event

from .conftest import write


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def links(activity: Activity) -> set[tuple[str, int]]:
    return {(link.type_key, link.record_id) for link in activity.links.all()}


def test_log_a_call_on_a_person_links_their_company(users, person, company):
    c = client_for(users["member"])
    form = c.get(f"/people/{person.pk}/quicklog/call/", HTTP_HX_REQUEST="true").content.decode()
    assert 'for="ql-subject"' in form and 'name="start_at"' in form and "<html" not in form
    r = c.post(
        f"/people/{person.pk}/quicklog/call/",
        {"subject": "Intro", "outcome": "left_voicemail", "body": "Call back **Monday**", "start_at": ""},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 200 and r["HX-Trigger"] == "activity-logged"
    assert "Saved call “Intro”" in r.content.decode()
    call = Activity.objects.get(subject="Intro")
    assert call.kind == "call" and call.done and call.outcome == "left_voicemail"
    assert call.start_at is None or abs(call.start_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert links(call) == {("people", person.pk), ("companies", company.pk)}
    assert Event.objects.get(type_key="activities", record_id=call.pk, kind="created").source == "ui"
    timeline = c.get(f"/people/{person.pk}/timeline/").content.decode()
    assert "Intro" in timeline and "<strong>Monday</strong>" in timeline


def test_note_task_and_meeting(users, company):
    m = users["member"]
    m.time_zone = "Europe/Paris"
    m.save()
    deal = write("deals", {"title": "Seats", "company": company.pk}, actor=m)
    c = client_for(m)
    url = f"/deals/{deal.pk}/quicklog/"
    assert c.post(url + "note/", {"body": "## Budget\nApproved in Q1"}, HTTP_HX_REQUEST="true").status_code == 200
    note = Activity.objects.get(kind="note")
    assert note.subject == "Budget" and note.body.startswith("## Budget")
    assert links(note) == {("deals", deal.pk), ("companies", company.pk)}

    r = c.post(
        url + "task/",
        {"subject": "Send offer", "due_at": "2026-12-01T09:00", "assignee": str(users["peer"].pk)},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 200
    task = Activity.objects.get(kind="task")
    assert task.due_at == dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)  # 09:00 in Paris
    assert task.assignee == users["peer"] and not task.done

    c.post(url + "meeting/", {"subject": "Demo", "start_at": "2026-12-02T14:00", "duration": "45"})
    meeting = Activity.objects.get(kind="meeting")
    assert meeting.start_at == dt.datetime(2026, 12, 2, 13, 0, tzinfo=dt.UTC)
    assert meeting.end_at - meeting.start_at == dt.timedelta(minutes=45)


def test_errors_name_the_field_and_write_nothing(users, person):
    c = client_for(users["member"])
    before = Activity.objects.count()
    r = c.post(f"/people/{person.pk}/quicklog/call/", {"subject": "  ", "outcome": "connected"})
    assert r.status_code == 400 and "Subject:" in r.content.decode()
    r = c.post(f"/people/{person.pk}/quicklog/meeting/", {"subject": "Demo", "start_at": ""}, HTTP_HX_REQUEST="true")
    assert r.status_code == 400 and "Starts:" in r.content.decode() and "HX-Trigger" not in r
    r = c.post(f"/people/{person.pk}/quicklog/task/", {"subject": "X", "due_at": "tomorrow-ish"})
    assert r.status_code == 400 and "Due:" in r.content.decode()
    r = c.post(f"/people/{person.pk}/quicklog/note/", {"body": ""})
    assert r.status_code == 400 and "Note:" in r.content.decode()
    r = c.post(
        f"/people/{person.pk}/quicklog/meeting/", {"subject": "D", "start_at": "2026-12-02T14:00", "duration": "-5"}
    )
    assert r.status_code == 400 and "Duration:" in r.content.decode()
    r = c.post(f"/people/{person.pk}/quicklog/call/", {"subject": "X", "outcome": "shouted"})
    assert r.status_code == 400 and "Outcome:" in r.content.decode()
    assert Activity.objects.count() == before


def test_typed_values_are_kept_and_escaped(users, person):
    c = client_for(users["member"])
    r = c.post(f"/people/{person.pk}/quicklog/call/", {"subject": '"><script>x</script>', "outcome": "bogus"})
    html = r.content.decode()
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_permissions(users, person, company):
    read_only = client_for(users["read-only"])
    assert read_only.post(f"/people/{person.pk}/quicklog/call/", {"subject": "X"}).status_code == 403
    outsider = client_for(users["outsider"])
    assert outsider.get(f"/companies/{company.pk}/quicklog/note/").status_code == 404
    assert outsider.post(f"/companies/{company.pk}/quicklog/note/", {"body": "hi"}).status_code == 404
    assert client_for(users["member"]).get(f"/people/{person.pk}/quicklog/email/").status_code == 404
    assert not Activity.objects.exists()


def test_plain_post_and_full_page_form(users, company):
    c = client_for(users["member"])
    deal = write("deals", {"title": "Seats", "company": company.pk}, actor=users["member"])
    board = c.get("/deals/board/").content.decode()
    # the card menu's "Log call…" links to the quick form with the board (and its filters) as next
    assert 'data-menu-log="call"' in board and 'data-back="/deals/board/?pipeline=' in board
    link = f"/deals/{deal.pk}/quicklog/call/?next=/deals/board/%3Fowner%3Dme"
    page = c.get(link).content.decode()
    assert "<html" in page and "Log a call" in page and 'name="next" value="/deals/board/?owner=me"' in page
    form = page[page.index('id="quicklog-form"') :].split(">")[0]
    assert "hx-post" not in form  # the full page posts plainly, so the answer's redirect is followed
    r = c.post(link, {"subject": "From the board", "outcome": "connected", "next": "/deals/board/?owner=me"})
    assert r.status_code == 302 and r["Location"] == "/deals/board/?owner=me"
    assert "Saved call “From the board”." in c.get(r["Location"]).content.decode()
    r = c.post(f"/deals/{deal.pk}/quicklog/call/", {"subject": "Again", "next": "https://evil.example/"})
    assert r.status_code == 302 and r["Location"] == f"/deals/{deal.pk}/"
    assert Activity.objects.filter(kind="call").count() == 2


def test_complete_from_the_timeline(users, person):
    m = users["member"]
    task = write(
        "activities",
        {"subject": "Follow up", "due_at": "2026-12-01T09:00:00Z", "links": [{"type": "people", "id": person.pk}]},
        actor=m,
    )
    c = client_for(m)
    assert "Mark “Follow up” done" in c.get(f"/people/{person.pk}/timeline/").content.decode()
    r = c.post(f"/people/{person.pk}/timeline/complete/{task.pk}/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and "Done" in r.content.decode()
    task.refresh_from_db()
    assert task.done
    assert client_for(users["read-only"]).post(f"/people/{person.pk}/timeline/complete/{task.pk}/").status_code == 403
    assert client_for(users["outsider"]).post(f"/people/{person.pk}/timeline/complete/{task.pk}/").status_code == 404
    elsewhere = write("people", {"first_name": "Bob", "last_name": "Other"}, actor=m)
    other = write("activities", {"subject": "Other", "links": [{"type": "people", "id": elsewhere.pk}]}, actor=m)
    assert c.post(f"/people/{person.pk}/timeline/complete/{other.pk}/").status_code == 404


def test_a_binned_company_is_not_linked(users, person, company):
    from rapport.core import services

    services.delete_record(company, actor=users["admin"], source="ui")
    person.refresh_from_db()
    r = client_for(users["member"]).post(f"/people/{person.pk}/quicklog/note/", {"body": "Still here"})
    assert r.status_code == 302
    assert links(Activity.objects.get(kind="note")) == {("people", person.pk)}


def test_another_teams_company_is_not_linked(users, person):
    # The member's person works at team West's company: the note is linked to the person only
    # (linking the company would be refused: links respect visibility).
    theirs = write("companies", {"name": "Westco"}, actor=users["outsider"])
    write("people", {"company": theirs.pk}, actor=users["member"], instance=person)
    r = client_for(users["member"]).post(f"/people/{person.pk}/quicklog/note/", {"body": "Met"})
    assert r.status_code == 302
    assert links(Activity.objects.get(kind="note")) == {("people", person.pk)}
    # Nor may a note be attached to team West's person on any path.
    their_person = write("people", {"first_name": "Wes"}, actor=users["outsider"])
    assert (
        client_for(users["member"]).post(f"/people/{their_person.pk}/quicklog/note/", {"body": "x"}).status_code == 404
    )
