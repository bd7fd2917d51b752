"""The deal's page is built around selling: the stage bar moves the deal (with the page's version, so a
stale page changes nothing), Won and Lost (with a reason from the configured ones) and Reopen, the next
planned activity, the timeline beside the details, line items summed up and quotes in their own tab."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from rapport.core.models import Event
from rapport.deals.models import Deal, LostReason, Pipeline, StageChange

from .conftest import write
from .test_quotes import LINES


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def stages() -> dict[str, Any]:
    return {s.name: s for s in Pipeline.objects.get(name="Sales pipeline").stages.all()}


@pytest.fixture
def deal(users, company):
    return write(
        "deals",
        {
            "title": "Acme seats",
            "currency": "EUR",
            "company": company.pk,
            "stage": stages()["Qualification"].pk,
            "pipeline": stages()["Qualification"].pipeline_id,
            "line_items": LINES,
        },
        actor=users["member"],
    )


def page_text(client: Client, deal: Deal) -> str:
    response = client.get(f"/deals/{deal.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def flashes(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- the page ------------------------------------------------------------------------------------
def test_the_page_shows_the_stage_bar_outcome_buttons_and_selling_sections(users, deal):
    text = page_text(client_for(users["member"]), deal)
    bar = re.search(r'<form method="post" action="/deals/\d+/stage/" class="stage-bar".*?</form>', text, re.S)
    assert bar is not None
    # The open stages of the pipeline, in order, the current one marked; Won and Lost apart.
    names = re.findall(r'name="stage" value="\d+"[^>]*>(?:<span[^>]*>[^<]*</span>)?([^<]+)</button>', bar.group(0))
    assert names == ["Qualification", "Needs analysis", "Proposal", "Negotiation"]
    assert 'aria-current="step"><span class="visually-hidden">Current stage: </span>Qualification' in bar.group(0)
    assert f'name="version" value="{deal.version}"' in bar.group(0)
    assert ">Won</button>" in text and '<summary class="btn btn-lost">Lost</summary>' in text
    # Every configured lost reason, in a labelled select.
    reasons = re.findall(
        r'<option value="\d+">([^<]+)</option>', text.split('id="lost-reason"')[1].split("</select>")[0]
    )
    assert reasons == list(LostReason.objects.filter(active=True).values_list("name", flat=True))
    assert '<label for="lost-reason">Why was this deal lost?</label>' in text
    # The next activity and the activity panel come before the details; no History card repeating the Changes tab.
    assert text.index('id="next-activity"') < text.index('id="activity-panel-title"') < text.index("<h2>Details</h2>")
    assert 'id="history-title"' not in text
    # Line items summed: 900.00 + 99.99 net, 180.00 + 7.50 tax (see LINES).
    assert "999.99" in text and "187.50" in text and "1,187.49 EUR" in text
    # Quotes are a tab of the deal, present in the page itself (not swapped in by a script).
    assert f'<a href="/deals/{deal.pk}/quotes/">Quotes</a>' in text
    assert f'hx-get="/deals/{deal.pk}/line-items/"' not in text


def test_the_quotes_tab_counts_the_deals_quotes(users, deal):
    from rapport.quotes import services as quotes

    quotes.create_quote_from_deal(deal, actor=users["member"])
    quotes.create_quote_from_deal(deal, actor=users["member"])
    text = page_text(client_for(users["member"]), deal)
    assert f'<a href="/deals/{deal.pk}/quotes/">Quotes (2)</a>' in text


def test_read_only_sees_the_stages_but_no_control(users, deal):
    text = page_text(client_for(users["read-only"]), deal)
    assert '<ol class="stage-bar"' in text and "Qualification" in text
    for control in ("/stage/", "/won/", "/lost/", "/reopen/", "btn-lost", f"/deals/{deal.pk}/edit/"):
        assert control not in text, control


def test_next_activity_is_the_first_planned_one(users, deal):
    soon = timezone.now() + dt.timedelta(days=1)
    later = timezone.now() + dt.timedelta(days=3)
    links = [{"type": "deals", "id": deal.pk}]
    write(
        "activities",
        {"kind": "task", "subject": "Send pricing", "due_at": later.isoformat(), "links": links},
        actor=users["member"],
    )
    write(
        "activities",
        {"kind": "call", "subject": "Call Ada back", "start_at": soon.isoformat(), "links": links},
        actor=users["member"],
    )
    write("activities", {"kind": "note", "subject": "Met at the fair", "links": links}, actor=users["member"])
    done = write(
        "activities", {"kind": "task", "subject": "Old task", "links": links, "done": True}, actor=users["member"]
    )
    assert done.done
    client = client_for(users["member"])
    card = client.get(f"/deals/{deal.pk}/next-activity/").content.decode()
    assert "Call Ada back" in card and "Send pricing" not in card and "Old task" not in card
    assert "Call Ada back" in page_text(client, deal).split('id="next-activity"')[1].split("</section>")[0]
    # Another team's member sees neither the deal nor its activities.
    assert client_for(users["outsider"]).get(f"/deals/{deal.pk}/next-activity/").status_code == 404


def test_nothing_planned_says_so(users, deal):
    text = page_text(client_for(users["member"]), deal)
    assert "Nothing planned." in text.split('id="next-activity"')[1].split("</section>")[0]


def test_deal_page_query_count(users, deal, django_assert_num_queries):
    client = client_for(users["member"])
    client.get(f"/deals/{deal.pk}/")  # warm caches (custom field definitions, session)
    with django_assert_num_queries(13):
        response = client.get(f"/deals/{deal.pk}/")
    assert response.status_code == 200


# --- moving with the stage bar ---------------------------------------------------------------------
def test_the_stage_bar_moves_the_deal_and_writes_the_stage_change(users, deal):
    client = client_for(users["member"])
    proposal = stages()["Proposal"]
    response = client.post(f"/deals/{deal.pk}/stage/", {"stage": proposal.pk, "version": deal.version}, follow=True)
    assert response.redirect_chain == [(f"/deals/{deal.pk}/", 302)]
    assert "Moved “Acme seats” to Proposal." in flashes(response)
    moved = Deal.objects.get(pk=deal.pk)
    assert (moved.stage_id, moved.version, moved.probability) == (proposal.pk, deal.version + 1, 50)
    event = Event.objects.filter(type_key="deals", record_id=deal.pk).order_by("-id").first()
    assert event.kind == "updated" and event.source == "ui" and event.actor_id == users["member"].pk
    assert event.changes["stage"] == [stages()["Qualification"].pk, proposal.pk]
    change = StageChange.objects.filter(deal=deal).order_by("-id").first()
    assert (change.from_stage_id, change.to_stage_id) == (stages()["Qualification"].pk, proposal.pk)
    # The page now marks Proposal as the current step and the stages before it as passed.
    text = response.content.decode()
    assert 'aria-current="step"><span class="visually-hidden">Current stage: </span>Proposal' in text
    assert text.count("stage stage-passed") == 2


def test_a_stale_page_moves_nothing(users, deal):
    # Someone else edits the deal after the page was loaded (version 1 → 2).
    write("deals", {"amount": "1500.00"}, actor=users["peer"], instance=deal)
    client = client_for(users["member"])
    response = client.post(f"/deals/{deal.pk}/stage/", {"stage": stages()["Negotiation"].pk, "version": 1}, follow=True)
    assert any("changed this deal while you had it open" in m for m in flashes(response))
    fresh = Deal.objects.get(pk=deal.pk)
    assert fresh.stage_id == stages()["Qualification"].pk and fresh.version == 2
    assert not StageChange.objects.filter(deal=deal, to_stage=stages()["Negotiation"]).exists()
    # Won and Lost from a stale page are refused the same way.
    for url, data in (("won", {}), ("lost", {"lost_reason": LostReason.objects.first().pk})):
        client.post(f"/deals/{deal.pk}/{url}/", {"version": 1, **data})
        assert Deal.objects.get(pk=deal.pk).status == "open"


def test_a_stage_of_another_pipeline_or_a_closing_stage_is_refused(users, deal):
    other = Pipeline.objects.create(name="Renewals")
    elsewhere = other.stages.create(name="Elsewhere", kind="open")
    client = client_for(users["member"])
    for stage in (elsewhere, stages()["Won"]):
        response = client.post(f"/deals/{deal.pk}/stage/", {"stage": stage.pk, "version": deal.version}, follow=True)
        assert "stage: choose one of the stages on the bar." in flashes(response)
    assert Deal.objects.get(pk=deal.pk).version == deal.version


def test_who_may_move(users, deal):
    data = {"stage": stages()["Proposal"].pk, "version": deal.version}
    assert client_for(users["outsider"]).post(f"/deals/{deal.pk}/stage/", data).status_code == 404
    response = client_for(users["read-only"]).post(f"/deals/{deal.pk}/stage/", data, follow=True)
    assert "You may not change this deal." in flashes(response)
    assert Deal.objects.get(pk=deal.pk).version == deal.version


# --- won, lost, reopen -----------------------------------------------------------------------------
def test_won_closes_the_deal_today(users, deal):
    client = client_for(users["member"])
    response = client.post(f"/deals/{deal.pk}/won/", {"version": deal.version}, follow=True)
    assert "“Acme seats” is won. Well done!" in flashes(response)
    won = Deal.objects.get(pk=deal.pk)
    assert (won.status, won.stage.name, won.probability, won.closed_on) == ("won", "Won", 100, timezone.localdate())
    text = response.content.decode()
    today = timezone.localdate()
    assert f"Won on {today:%b} {today.day}, {today.year}" in text  # the member's locale: en-US
    assert ">Won</button>" not in text and ">Reopen</button>" in text


def test_lost_needs_one_of_the_configured_reasons(users, deal):
    client = client_for(users["member"])
    for bad in ("", "abc", "999999"):
        response = client.post(f"/deals/{deal.pk}/lost/", {"version": deal.version, "lost_reason": bad}, follow=True)
        assert "Lost reason: choose why the deal was lost." in flashes(response)
    assert Deal.objects.get(pk=deal.pk).status == "open"
    price = LostReason.objects.get(name="Price")
    response = client.post(f"/deals/{deal.pk}/lost/", {"version": deal.version, "lost_reason": price.pk}, follow=True)
    assert "“Acme seats” is marked as lost (Price)." in flashes(response)
    lost = Deal.objects.get(pk=deal.pk)
    assert (lost.status, lost.stage.name, lost.lost_reason_id, lost.probability) == ("lost", "Lost", price.pk, 0)
    today = timezone.localdate()
    assert f"Lost on {today:%b} {today.day}, {today.year}: Price" in response.content.decode()
    event = Event.objects.filter(type_key="deals", record_id=deal.pk).order_by("-id").first()
    assert event.changes["lost_reason"] == [None, price.pk] and event.changes["status"] == ["open", "lost"]


def test_reopen_goes_back_to_the_stage_before_closing(users, deal):
    client = client_for(users["member"])
    client.post(f"/deals/{deal.pk}/stage/", {"stage": stages()["Negotiation"].pk, "version": 1})
    client.post(f"/deals/{deal.pk}/won/", {"version": 2})
    response = client.post(f"/deals/{deal.pk}/reopen/", {"version": 3}, follow=True)
    assert "“Acme seats” is open again, in Negotiation." in flashes(response)
    reopened = Deal.objects.get(pk=deal.pk)
    assert (reopened.status, reopened.stage.name, reopened.closed_on, reopened.version) == (
        "open",
        "Negotiation",
        None,
        4,
    )
