"""The timeline of a record: order, kinds, keyset pages, a company's people and deals, visibility, query counts."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from rapport.activities import timeline
from rapport.deals.models import Stage
from rapport.deals.services import move_deal

from .conftest import write


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def activity(actor, subject: str, links: list[tuple[str, int]], **extra):
    data = {"kind": "task", "subject": subject, "links": [{"type": t, "id": i} for t, i in links], **extra}
    return write("activities", data, actor=actor)


def shown_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-activity="(\d+)"', html)]


def test_order_kinds_and_filters(users, person):
    m = users["member"]
    on = [("people", person.pk)]
    call = activity(m, "Intro call", on, kind="call", start_at="2026-01-10T10:00:00Z", outcome="connected", done=True)
    meeting = activity(m, "Demo", on, kind="meeting", start_at="2026-03-01T10:00:00Z", duration_minutes=30)
    task = activity(m, "Send offer", on, due_at="2026-02-01T09:00:00Z")
    note = activity(m, "Liked it", on, kind="note")  # created now: the newest
    c = client_for(m)
    html = c.get(f"/people/{person.pk}/timeline/").content.decode()
    assert shown_ids(html) == [note.pk, meeting.pk, task.pk, call.pk]
    assert "created" in html  # the person's own history is on the timeline too
    for kind, expected in (("call", [call.pk]), ("task", [task.pk]), ("meeting", [meeting.pk]), ("note", [note.pk])):
        page = c.get(f"/people/{person.pk}/timeline/", {"kind": kind}).content.decode()
        assert shown_ids(page) == expected
        assert "event-created" not in page
    changes = c.get(f"/people/{person.pk}/timeline/", {"kind": "changes"}).content.decode()
    assert shown_ids(changes) == [] and "event-created" in changes
    assert c.get(f"/people/{person.pk}/timeline/", {"kind": "email"}).status_code == 400
    assert c.get(f"/people/{person.pk}/timeline/", {"cursor": "garbage"}).status_code == 400


def test_keyset_pages_walk_everything_once(users, person):
    m = users["member"]
    same_time = "2026-05-05T12:00:00Z"  # ties on time are broken by id, never skipped or repeated
    made = [
        activity(m, f"Call {i}", [("people", person.pk)], kind="call", start_at=same_time, done=True).pk
        for i in range(45)
    ]
    c = client_for(m)
    seen: list[int] = []
    url = f"/people/{person.pk}/timeline/?kind=call"
    pages = 0
    while url:
        html = c.get(url, HTTP_HX_REQUEST="true").content.decode()
        ids = shown_ids(html)
        assert len(ids) <= timeline.PAGE_SIZE
        seen += ids
        pages += 1
        more = re.search(r'hx-get="([^"]*cursor=[^"]*)"', html)
        url = more.group(1).replace("&amp;", "&") if more else ""
    assert pages == 3
    assert seen == sorted(made, reverse=True)
    assert "OFFSET" not in str(timeline.activity_queryset(m, {"people": [person.pk]}).query).upper()


def test_deal_stage_changes_shown_with_names(users):
    m = users["member"]
    deal = write("deals", {"title": "Seats"}, actor=m)
    proposal = Stage.objects.get(pipeline=deal.pipeline, name="Proposal")
    move_deal(deal, proposal, actor=m, source="ui")
    html = client_for(m).get(f"/deals/{deal.pk}/timeline/?kind=changes").content.decode()
    assert "moved the stage" in html and "Qualification → Proposal" in html


def test_company_timeline_shows_its_visible_deals_moving(users, company):
    m, admin = users["member"], users["admin"]
    deal = write("deals", {"title": "Seats", "company": company.pk}, actor=m)
    hidden = write("deals", {"title": "West deal", "company": company.pk, "owner": users["outsider"].pk}, actor=admin)
    proposal = Stage.objects.get(pipeline=deal.pipeline, name="Proposal")
    move_deal(deal, proposal, actor=m, source="ui")
    move_deal(hidden, proposal, actor=admin, source="ui")
    deal.refresh_from_db()
    write("deals", {"amount": "10"}, actor=m, instance=deal)  # not a stage move: stays on the deal's own page
    html = client_for(m).get(f"/companies/{company.pk}/timeline/?kind=changes").content.decode()
    assert html.count("Qualification → Proposal") == 1
    assert f'href="/deals/{deal.pk}/">Seats</a>' in html and "West deal" not in html
    assert "Amount" not in html
    admin_html = client_for(admin).get(f"/companies/{company.pk}/timeline/?kind=changes").content.decode()
    assert admin_html.count("Qualification → Proposal") == 2


def test_company_timeline_includes_people_and_deals(users, company, person):
    m = users["member"]
    deal = write("deals", {"title": "Seats", "company": company.pk}, actor=m)
    on_person = activity(m, "Call Ada", [("people", person.pk)], kind="call", done=True)
    on_deal = activity(m, "Deal task", [("deals", deal.pk)])
    on_company = activity(m, "Company note", [("companies", company.pk)], kind="note")
    elsewhere = write("people", {"first_name": "Bob", "last_name": "Other"}, actor=m)
    unrelated = activity(m, "Not here", [("people", elsewhere.pk)])
    html = client_for(m).get(f"/companies/{company.pk}/timeline/").content.decode()
    ids = shown_ids(html)
    assert set(ids) == {on_person.pk, on_deal.pk, on_company.pk}
    assert unrelated.pk not in ids
    assert "Ada Lovelace" in html and "Seats" in html  # what each one is about is named


def test_visibility_through_a_company_timeline(users, company):
    m, admin = users["member"], users["admin"]
    # A person of the company outside the member's scope (owned by the other team).
    hidden_person = write(
        "people",
        {"first_name": "Zed", "last_name": "West", "company": company.pk, "owner": users["outsider"].pk},
        actor=admin,
    )
    visible_person = write("people", {"first_name": "Amy", "last_name": "East", "company": company.pk}, actor=m)
    # Visible activity, but only about a record the member may not see: must not show.
    via_hidden = activity(m, "About Zed", [("people", hidden_person.pk)])
    # Activity the member may not see, about a visible person: must not show.
    invisible = activity(admin, "West secret", [("people", visible_person.pk)], owner=users["outsider"].pk)
    # Activity linked to both: shows, without naming the hidden person.
    both = activity(m, "Both", [("people", visible_person.pk), ("people", hidden_person.pk)])
    html = client_for(m).get(f"/companies/{company.pk}/timeline/").content.decode()
    assert shown_ids(html) == [both.pk]
    assert "Zed" not in html and "West secret" not in html and "About Zed" not in html
    assert via_hidden.pk and invisible.pk
    # The admin sees all of them.
    admin_ids = shown_ids(client_for(admin).get(f"/companies/{company.pk}/timeline/").content.decode())
    assert set(admin_ids) == {via_hidden.pk, invisible.pk, both.pk}
    # An outsider may not open the company's timeline at all.
    assert client_for(users["outsider"]).get(f"/companies/{company.pk}/timeline/").status_code == 404
    assert client_for(users["outsider"]).get(f"/people/{visible_person.pk}/timeline/").status_code == 404


def test_query_count_does_not_grow(users, company, django_assert_max_num_queries):
    m = users["member"]
    c = client_for(m)

    def grow(n: int) -> None:
        for i in range(n):
            p = write("people", {"first_name": f"P{i}", "last_name": "X", "company": company.pk}, actor=m)
            d = write("deals", {"title": f"D{i}", "company": company.pk}, actor=m)
            activity(m, f"Call {i}", [("people", p.pk), ("deals", d.pk)], kind="call", done=True)
            activity(m, f"Task {i}", [("companies", company.pk), ("deals", d.pk)])

    grow(2)
    with django_assert_max_num_queries(15) as few:  # 14, and one for mail (a declared timeline source)
        assert c.get(f"/companies/{company.pk}/timeline/").status_code == 200
    grow(15)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = c.get(f"/companies/{company.pk}/timeline/").content.decode()
    assert len(shown_ids(html)) == timeline.PAGE_SIZE


def test_subjects_and_bodies_escaped(users, person):
    m = users["member"]
    activity(
        m,
        "<script>alert(1)</script>",
        [("people", person.pk)],
        kind="note",
        body="<img src=x onerror=alert(2)> **bold** [x](javascript:alert(3))",
    )
    html = client_for(m).get(f"/people/{person.pk}/timeline/", HTTP_HX_REQUEST="true").content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html and 'href="javascript:' not in html and "&lt;img src=x" in html
    assert "<strong>bold</strong>" in html


def test_section_on_detail_pages(users, person, company):
    m = users["member"]
    deal = write("deals", {"title": "Seats", "company": company.pk}, actor=m)
    c = client_for(m)
    for url in (f"/people/{person.pk}/", f"/companies/{company.pk}/", f"/deals/{deal.pk}/"):
        html = c.get(url).content.decode()
        assert 'id="activity-timeline"' in html and "Log a call" in html and "Schedule a meeting" in html
        # The timeline's Changes tab is the history: no page repeats it in a History card, and the timeline
        # comes before the details.
        assert 'id="history-title"' not in html
        assert html.index('id="activity-timeline"') < html.index("<h2>Details</h2>")
    read_only = client_for(users["read-only"]).get(f"/people/{person.pk}/").content.decode()
    assert 'id="activity-timeline"' in read_only and "Log a call" not in read_only


@pytest.mark.parametrize("bad", ["/activities/1/timeline/", "/people/999999/timeline/"])
def test_unknown_targets_404(users, bad):
    assert client_for(users["member"]).get(bad).status_code == 404


def test_timeline_api(users, company, person, api_client_for, django_assert_max_num_queries):
    m = users["member"]
    for i in range(22):
        activity(m, f"Call {i}", [("people", person.pk)], kind="call", done=True, start_at="2026-02-02T10:00:00Z")
    client = api_client_for(m)
    first = client.get(f"/api/v1/companies/{company.pk}/timeline/")
    assert first.status_code == 200, first.content
    body = first.json()
    assert len(body["results"]) == timeline.PAGE_SIZE and body["next"]
    top = body["results"][0]
    assert top["source"] in ("activity", "event")
    calls = [r for r in body["results"] if r["source"] == "activity"]
    assert (
        calls[0]["activity"]["kind"] == "call" and {"type": "people", "id": person.pk} in calls[0]["activity"]["links"]
    )
    with django_assert_max_num_queries(20):
        second = client.get(body["next"]).json()  # the next link carries the cursor
    ids = [r["id"] for r in body["results"] + second["results"] if r["source"] == "activity"]
    assert len(ids) == len(set(ids)) == 22
    assert second["next"] is None
    only = client.get(f"/api/v1/companies/{company.pk}/timeline/", {"kind": "changes"}).json()["results"]
    assert [r["event"]["kind"] for r in only] == ["created"]
    bad = client.get(f"/api/v1/companies/{company.pk}/timeline/", {"kind": "gossip"})
    assert bad.status_code == 400 and "kind" in bad.content.decode()
    assert client.get(f"/api/v1/companies/{company.pk}/timeline/", {"cursor": "x"}).status_code == 400
    assert client.get(f"/api/v1/companies/{company.pk}/timeline/", {"page": "2"}).status_code == 400
    assert api_client_for(users["outsider"]).get(f"/api/v1/companies/{company.pk}/timeline/").status_code == 404
    assert client.get("/api/v1/companies/999999/timeline/").status_code == 404
