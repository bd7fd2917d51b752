"""The deals board: totals in the base currency with dated rates, visibility of cards and totals,
rotting marks, moves with versions, keyset columns, deals on person/company pages, lead conversion."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from rapport.contacts.models import Person
from rapport.core.models import Event
from rapport.deals import board
from rapport.deals.models import Deal, DealContact, LostReason, Pipeline, StageChange
from rapport.forecasting.models import ExchangeRate

from .conftest import write


@pytest.fixture
def pipeline(db):
    return Pipeline.objects.get(name="Sales pipeline")


def stage(pipeline, name):
    return pipeline.stages.get(name=name)


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def deal(actor, pipeline, stage_name, amount=None, currency="USD", close=None, **extra):
    data = {"title": extra.pop("title", f"{stage_name} {amount} {currency}"), "stage": stage(pipeline, stage_name).pk}
    if amount is not None:
        data["amount"] = str(amount)
    data["currency"] = currency
    if close:
        data["expected_close_date"] = close
    data.update(extra)
    return write("deals", data, actor=actor)


@pytest.fixture
def rates(db):
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.10"), valid_from=dt.date(2026, 1, 1))
    ExchangeRate.objects.create(currency="EUR", rate=Decimal("1.20"), valid_from=dt.date(2026, 6, 1))
    # A long daily table: summed per close date rather than per rate era.
    for i in range(45):
        ExchangeRate.objects.create(
            currency="JPY",
            rate=Decimal("0.0065") + Decimal("0.0001") * i,
            valid_from=dt.date(2026, 1, 1) + dt.timedelta(i),
        )


@pytest.fixture
def deals(users, pipeline, rates):
    m = users["member"]
    return {
        "usd": deal(m, pipeline, "Qualification", 1000, "USD", "2026-03-01"),
        "eur_early": deal(m, pipeline, "Qualification", 1000, "EUR", "2026-03-01"),
        "eur_late": deal(m, pipeline, "Qualification", 500, "EUR", "2026-07-01"),
        "gbp": deal(m, pipeline, "Qualification", 300, "GBP", "2026-03-01"),
        "eur_before_rates": deal(m, pipeline, "Qualification", 200, "EUR", "2025-06-01"),
        "no_amount": deal(users["peer"], pipeline, "Qualification", None, "USD"),
        "proposal": deal(m, pipeline, "Proposal", 2000, "USD"),
        "jpy": deal(m, pipeline, "Negotiation", 10000, "JPY", "2026-01-10"),
        "outsider": deal(users["outsider"], pipeline, "Qualification", 99999, "USD", "2026-03-01"),
    }


def totals_for(user, pipeline):
    qs = board.visible_deals(user, pipeline, board.deal_filter({}, user))
    stages = board.board_stages(pipeline)
    by_id = board.column_totals(qs, stages)
    return {s.name: by_id[s.pk] for s in stages}


def test_totals_convert_each_deal_with_the_rate_of_its_close_date(users, pipeline, deals):
    t = totals_for(users["member"], pipeline)
    q = t["Qualification"]
    # 1000 USD + 1000 EUR × 1.10 + 500 EUR × 1.20; GBP (no rate) and EUR before the first rate are flagged.
    assert q.count == 6
    assert q.total == Decimal("2700.00")
    assert q.weighted == Decimal("270.00")  # 10 %
    assert q.without_rate == 2
    assert (t["Proposal"].count, t["Proposal"].total, t["Proposal"].weighted) == (
        1,
        Decimal("2000.00"),
        Decimal("1000.00"),
    )
    # JPY closes 2026-01-10: the 10th daily rate, 0.0074.
    n = t["Negotiation"]
    assert (n.count, n.total, n.weighted, n.without_rate) == (1, Decimal("74.00"), Decimal("55.50"), 0)
    assert (t["Won"].count, t["Won"].total) == (0, Decimal("0.00"))


def test_an_outsiders_deals_are_neither_cards_nor_totals(users, pipeline, deals):
    member = client_for(users["member"])
    html = member.get(f"/deals/board/?pipeline={pipeline.pk}").content.decode()
    assert "99999" not in html and deals["outsider"].title not in html
    assert "$2,700.00" in html
    outsider_totals = totals_for(users["outsider"], pipeline)["Qualification"]
    assert (outsider_totals.count, outsider_totals.total) == (1, Decimal("99999.00"))
    admin_totals = totals_for(users["admin"], pipeline)["Qualification"]
    assert admin_totals.count == 7 and admin_totals.total == Decimal("102699.00")


def test_board_page_shows_columns_cards_and_flags(users, pipeline, deals):
    response = client_for(users["member"]).get("/deals/board/")
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("Qualification", "Needs analysis", "Proposal", "Negotiation", "Won", "Lost"):
        assert name in html
    order = [int(x) for x in re.findall(r'data-stage-col="(\d+)"', html)]
    assert order == [s.pk for s in board.board_stages(pipeline)]
    assert [pipeline.stages.get(pk=pk).kind for pk in order] == ["open"] * 4 + ["won", "lost"]
    assert "2 without rate" in html
    assert "€1,000.00" in html and 'aria-label="Owner Member"' in html
    assert 'data-version="1"' in html


def test_filters_come_from_the_url_and_bad_ones_are_named(users, pipeline, deals):
    c = client_for(users["member"])
    html = c.get(f"/deals/board/?pipeline={pipeline.pk}&owner={users['peer'].pk}").content.decode()
    assert deals["usd"].title not in html
    assert "$0.00" in html
    html = c.get("/deals/board/?close_date__after=2026-06-15").content.decode()
    assert "$600.00" in html  # only the late EUR deal in Qualification
    bad = c.get("/deals/board/?colour=red")
    assert bad.status_code == 400 and "colour" in bad.content.decode()
    assert c.get("/deals/board/?pipeline=abc").status_code == 400


def test_rotting_mark(users, pipeline):
    qualification = stage(pipeline, "Qualification")
    qualification.rotting_days = 5
    qualification.save()
    old = deal(users["member"], pipeline, "Qualification", 10, title="Old one")
    fresh = deal(users["member"], pipeline, "Qualification", 10, title="Fresh one")
    Deal.objects.filter(pk=old.pk).update(stage_entered_at=timezone.now() - dt.timedelta(days=6))
    html = client_for(users["member"]).get("/deals/board/").content.decode()
    old_card = html[html.index(f'id="deal-{old.pk}"') :].split("</article>")[0]
    fresh_card = html[html.index(f'id="deal-{fresh.pk}"') :].split("</article>")[0]
    assert "Rotting · 6 d" in old_card
    assert "Rotting" not in fresh_card


def move(client, d, stage_obj, version, **extra):
    data = {"stage": stage_obj.pk, "version": version, **extra}
    return client.post(f"/deals/{d.pk}/move/", data, HTTP_ACCEPT="application/json")


def test_move_with_the_right_version(users, pipeline, deals):
    d = deals["usd"]
    response = move(client_for(users["member"]), d, stage(pipeline, "Proposal"), d.version)
    assert response.status_code == 200, response.content
    body = response.json()
    d.refresh_from_db()
    assert d.stage.name == "Proposal" and d.version == 2
    assert body["stage"] == d.stage_id and f'data-version="{d.version}"' in body["card"]
    # The answer carries the moved deal's own figures (1000 USD at 10 % left, at 50 % arrived),
    # which the page adds to both column heads: no re-aggregation of the two columns.
    assert "heads" not in body
    assert body["deltas"] == {
        str(stage(pipeline, "Qualification").pk): {
            "count": -1,
            "total": "-1000.00",
            "weighted": "-100.00",
            "without_rate": 0,
        },
        str(d.stage_id): {"count": 1, "total": "1000.00", "weighted": "500.00", "without_rate": 0},
    }
    assert StageChange.objects.filter(deal=d).count() == 2
    event = Event.objects.filter(type_key="deals", record_id=d.pk, kind="updated").get()
    assert event.source == "ui" and event.actor == users["member"]


def test_new_deals_read_for_all_columns_at_once_are_each_columns_own(users, pipeline):
    member = users["member"]
    deal(member, pipeline, "Proposal", 1, title="Proposal new")
    deal(member, pipeline, "Negotiation", 1, close="2026-05-01", title="Negotiation dated")
    for i in range(10):
        deal(member, pipeline, "Qualification", i, title=f"Qualification new {i}")
    qs = board.visible_deals(member, pipeline, board.deal_filter({}, member))
    stages = board.board_stages(pipeline)
    opened = [s for s in stages if s.kind == "open"]
    # Two cards a column: one query asks for the 3 newest of each open column together (3 x columns rows),
    # gets only Qualification's (the 10 newest are all there): Qualification's first page comes from it,
    # the other columns read their own.
    since = timezone.now() - board.NEW_FOR
    news = board._first_new_rows(qs, opened, since, 2)
    assert list(news) == [stage(pipeline, "Qualification").pk]
    columns = board.build_board(member, pipeline, board.deal_filter({}, member), size=2)
    got = {c.stage.name: [card.title for card in c.cards] for c in columns if c.stage.kind == "open"}
    assert got["Qualification"] == ["Qualification new 9", "Qualification new 8"]
    assert got["Proposal"] == ["Proposal new"]
    assert got["Negotiation"] == ["Negotiation dated"]
    for s in opened:  # the same as each column read alone
        assert got[s.name] == [card.title for card in board.column_cards(qs, s, size=2, user=member)[0]]


def test_a_move_answer_reads_no_more_than_it_needs(users, pipeline, deals, django_assert_num_queries):
    d = deals["usd"]
    c = client_for(users["member"])
    proposal = stage(pipeline, "Proposal")
    # Session, user, role; the deal, the target stage, the rates; the write (savepoint, contacts and line
    # items for the history snapshot, the update, the board's two kept rows, the forecast's kept row, the
    # stage change, the event, the search entry, release); the card and its next activity.
    with django_assert_num_queries(19) as counted:
        assert move(c, d, proposal, d.version).status_code == 200
    sqls = [q["sql"] for q in counted.captured_queries]
    # The answer neither re-reads the stage it moved to nor the pipeline's stages, and an unfiltered
    # board does not ask again whether the deal is visible (a move changes neither owner nor team).
    assert sum('FROM "sales_stage"' in q for q in sqls) == 1
    assert not any("SELECT 1 AS" in q for q in sqls)


def test_stale_version_is_409_with_the_current_card_and_nothing_moved(users, pipeline, deals):
    d = deals["usd"]
    write("deals", {"title": "Renamed meanwhile"}, actor=users["peer"], instance=d)
    response = move(client_for(users["member"]), d, stage(pipeline, "Proposal"), 1)
    assert response.status_code == 409
    body = response.json()
    assert "Someone else changed this deal" in body["error"]
    assert "Renamed meanwhile" in body["card"] and 'data-version="2"' in body["card"]
    d.refresh_from_db()
    assert d.stage.name == "Qualification"
    assert StageChange.objects.filter(deal=d).count() == 1


def test_lost_needs_a_reason_and_gets_one(users, pipeline, deals):
    d = deals["usd"]
    c = client_for(users["member"])
    response = move(c, d, stage(pipeline, "Lost"), d.version)
    assert response.status_code == 400 and "lost_reason" in response.json()["error"]
    d.refresh_from_db()
    assert d.status == "open"
    reason = LostReason.objects.filter(active=True).first()
    response = move(c, d, stage(pipeline, "Lost"), d.version, lost_reason=reason.pk)
    assert response.status_code == 200
    d.refresh_from_db()
    assert d.status == "lost" and d.lost_reason == reason


def test_read_only_and_outsider_cannot_move(users, pipeline, deals):
    d = deals["usd"]
    response = move(client_for(users["read-only"]), d, stage(pipeline, "Proposal"), d.version)
    assert response.status_code == 403
    assert move(client_for(users["outsider"]), d, stage(pipeline, "Proposal"), d.version).status_code == 404
    d.refresh_from_db()
    assert d.stage.name == "Qualification"
    html = client_for(users["read-only"]).get("/deals/board/").content.decode()
    assert "Move to…" not in html and d.title in html


def test_a_stage_of_another_pipeline_is_refused(users, pipeline, deals):
    other = Pipeline.objects.create(name="Renewals")
    due = other.stages.create(name="Due", position=0, probability=80)
    response = move(client_for(users["member"]), deals["usd"], due, 1)
    assert response.status_code == 400 and "stage" in response.json()["error"]


def test_open_columns_put_new_deals_first_then_the_soonest_close_and_show_more_pages_through(
    users, pipeline, monkeypatch
):
    """A deal just made is on top of its column (not behind "Show more"); the rest by expected close
    date, soonest first, then those without one; "Show more" pages through all three in that order."""
    monkeypatch.setattr(board, "CARDS_PER_COLUMN", 3)
    m = users["member"]
    old = timezone.now() - dt.timedelta(days=2)
    made = {}
    for title, close in [
        ("Old C", "2027-03-01"),
        ("Old D", "2027-01-15"),
        ("Old E", "2027-01-15"),
        ("Old F", None),
        ("Old G", None),
        ("New B", "2027-06-01"),
        ("New A", None),
    ]:
        made[title] = deal(m, pipeline, "Proposal", 10, title=title, close=close)
        if title.startswith("Old"):
            Deal.objects.filter(pk=made[title].pk).update(created_at=old)
    Deal.objects.filter(pk=made["New B"].pk).update(created_at=timezone.now() - dt.timedelta(hours=1))
    c = client_for(m)
    html = c.get("/deals/board/").content.decode()
    proposal = stage(pipeline, "Proposal")
    column = html[html.index(f'id="cards-{proposal.pk}"') : html.index(f'id="more-{proposal.pk}"')]

    def titles(fragment):
        return sorted(
            (fragment.index(f'id="deal-{d.pk}"'), t) for t, d in made.items() if f'id="deal-{d.pk}"' in fragment
        )

    assert [t for _, t in titles(column)] == ["New A", "New B", "Old D"]
    assert "7 deals" in html  # totals cover every deal
    cards = {t: card for card in _cards(column) for t in made if f'data-deal="{made[t].pk}"' in card}
    assert "Created in the last day" in cards["New A"] and "Created in the last day" in cards["New B"]
    assert "Created in the last day" not in cards["Old D"]
    link = re.search(rf'href="(/deals/board/column/{proposal.pk}/[^"]+)"', html).group(1).replace("&amp;", "&")
    page2 = c.get(link).content.decode()
    assert [t for _, t in titles(page2)] == ["Old E", "Old C", "Old F"]
    assert 'hx-swap-oob="true"' in page2 and "Show more" in page2
    nxt = re.search(r'href="([^"]+)"', page2[page2.index("hx-swap-oob") :]).group(1).replace("&amp;", "&")
    page3 = c.get(nxt).content.decode()
    assert [t for _, t in titles(page3)] == ["Old G"] and "Show more" not in page3
    assert c.get(f"/deals/board/column/{proposal.pk}/?cursor=garbage").status_code == 400


def test_board_query_count_does_not_grow_with_deals(users, pipeline, rates, django_assert_max_num_queries):
    c = client_for(users["member"])
    for _ in range(3):
        deal(users["member"], pipeline, "Proposal", 100, "EUR", "2026-03-01")
    # Session, user, role; pipelines, stages (each read once), rates, kept totals, the won and lost
    # columns' figures; up to three keyset scans per open column (new deals, dated, undated): 4 x 3; next
    # activities; the filters' users and teams, the lost reasons.
    with django_assert_max_num_queries(24) as few:
        assert c.get("/deals/board/").status_code == 200
    for i in range(30):
        deal(users["member"], pipeline, ["Qualification", "Proposal", "Negotiation"][i % 3], 100 + i, "USD")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert c.get("/deals/board/").status_code == 200


# --- person and company pages -------------------------------------------------------------------
def test_company_and_person_pages_list_their_visible_deals(users, pipeline, company, person):
    mine = deal(users["member"], pipeline, "Proposal", 100, title="Acme expansion", company=company.pk)
    with_contact = write(
        "deals",
        {"title": "Ada's pilot", "contacts": [{"person": person.pk, "role": "champion"}]},
        actor=users["member"],
    )
    hidden = deal(users["outsider"], pipeline, "Proposal", 100, title="Secret deal", company=company.pk)
    c = client_for(users["member"])
    detail = c.get(f"/companies/{company.pk}/").content.decode()
    assert f'hx-get="/deals/related/?company={company.pk}"' in detail
    section = c.get(f"/deals/related/?company={company.pk}").content.decode()
    assert mine.title in section and hidden.title not in section
    assert f"/deals/new/?company={company.pk}" in section
    section = c.get(f"/deals/related/?person={person.pk}").content.decode()
    assert "Ada&#x27;s pilot" in section and mine.title not in section
    assert f"/deals/new/?person={person.pk}&amp;company={company.pk}" in section
    assert "Convert to deal" in section  # Ada is a lead
    assert client_for(users["outsider"]).get(f"/deals/related/?company={company.pk}").status_code == 404
    assert with_contact.pk


def test_new_deal_form_prefills_company_and_contact(users, company, person):
    html = client_for(users["member"]).get(f"/deals/new/?company={company.pk}&person={person.pk}").content.decode()
    assert f'name="company" value="{company.pk}"' in html or f'value="{company.pk}"' in html
    assert f'name="contacts" value="{person.pk}"' in html


def test_convert_lead_creates_the_deal_and_moves_the_person_on(users, person, company):
    c = client_for(users["member"])
    response = c.post(f"/deals/convert/{person.pk}/")
    new = Deal.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/deals/{new.pk}/"
    assert new.title == "Ada Lovelace — new deal" and new.company == company and new.owner == users["member"]
    assert list(DealContact.objects.filter(deal=new).values_list("person_id", "role")) == [
        (person.pk, "decision_maker")
    ]
    person.refresh_from_db()
    assert person.lifecycle_stage == "opportunity"
    assert Event.objects.filter(type_key="people", record_id=person.pk, kind="updated", source="ui").exists()
    # No longer a lead: a second conversion is refused and creates nothing.
    response = c.post(f"/deals/convert/{person.pk}/", follow=True)
    assert "not a lead" in response.content.decode()
    assert Deal.objects.count() == 1


def test_convert_lead_needs_permission(users, person):
    assert client_for(users["read-only"]).post(f"/deals/convert/{person.pk}/").status_code == 403
    assert client_for(users["outsider"]).post(f"/deals/convert/{person.pk}/").status_code == 404
    assert Deal.objects.count() == 0
    assert Person.objects.get(pk=person.pk).lifecycle_stage == "lead"


def test_move_from_a_plain_form_redirects_back(users, pipeline, deals):
    d = deals["usd"]
    response = client_for(users["member"]).post(
        f"/deals/{d.pk}/move/", {"stage": stage(pipeline, "Proposal").pk, "version": d.version}
    )
    assert response.status_code == 302 and response["Location"].startswith("/deals/board/")
    d.refresh_from_db()
    assert d.stage.name == "Proposal"
    assert json.dumps  # keep the import used for readers of JSON bodies


def test_won_and_lost_columns_cover_the_last_30_days_and_load_when_opened(users, pipeline):
    today = timezone.localdate()
    recent = deal(users["member"], pipeline, "Won", amount="100", closed_on=str(today - dt.timedelta(days=5)))
    old = deal(users["member"], pipeline, "Won", amount="900", closed_on=str(today - dt.timedelta(days=40)))
    qs = board.visible_deals(users["member"], pipeline, board.deal_filter({}, users["member"]))
    totals = board.column_totals(qs, board.board_stages(pipeline))
    won = totals[stage(pipeline, "Won").pk]
    assert (won.count, won.total) == (1, Decimal("100.00"))
    page = client_for(users["member"]).get(f"/deals/board/?pipeline={pipeline.pk}").content.decode()
    assert "last 30 days" in page and "Show the deals" in page
    assert f'data-deal="{recent.pk}"' not in page  # collapsed columns render no cards up front
    column = (
        client_for(users["member"])
        .get(f"/deals/board/column/{stage(pipeline, 'Won').pk}/?pipeline={pipeline.pk}&cursor=first")
        .content.decode()
    )
    assert f'data-deal="{recent.pk}"' in column and f'data-deal="{old.pk}"' not in column


def test_deals_without_a_next_activity_are_flagged(users, pipeline):
    idle = deal(users["member"], pipeline, "Proposal", amount="100")
    planned = deal(users["member"], pipeline, "Proposal", amount="100")
    write(
        "activities",
        {"subject": "Follow up", "due_at": "2030-01-01T09:00:00Z", "links": [{"type": "deals", "id": planned.pk}]},
        actor=users["member"],
    )
    done_only = deal(users["member"], pipeline, "Proposal", amount="100")
    write(
        "activities",
        {"kind": "note", "subject": "Met", "links": [{"type": "deals", "id": done_only.pk}]},
        actor=users["member"],
    )
    page = client_for(users["member"]).get(f"/deals/board/?pipeline={pipeline.pk}").content.decode()

    def card(d):
        start = page.index(f'data-deal="{d.pk}"')
        return page[start : page.index("</article>", start)]

    assert "No next activity" in card(idle)
    assert "No next activity" not in card(planned)
    assert "No next activity" in card(done_only)  # a note is not a next step


def test_totals_grouped_per_rate_period_give_the_hand_computed_sum(users, pipeline, db):
    """Several EUR and GBP rate periods, deals on both sides of each change and on the change days
    themselves: grouping by (stage, currency, rate period) and converting each group once gives
    the same total as converting every deal with the rate of its own day."""
    for currency, day, rate in [
        ("EUR", "2026-01-01", "1.10"),
        ("EUR", "2026-04-01", "1.20"),
        ("EUR", "2026-07-01", "1.05"),
        ("GBP", "2026-02-15", "1.30"),
        ("GBP", "2026-05-01", "1.25"),
    ]:
        ExchangeRate.objects.create(currency=currency, rate=Decimal(rate), valid_from=dt.date.fromisoformat(day))
    m = users["member"]
    for amount, currency, close in [
        (100, "EUR", "2026-03-31"),  # 1.10 → 110
        (200, "EUR", "2026-04-01"),  # 1.20 → 240 (the change day itself)
        (300, "EUR", "2026-06-30"),  # 1.20 → 360
        (400, "EUR", "2026-07-01"),  # 1.05 → 420
        (500, "EUR", "2027-01-01"),  # 1.05 → 525
        (100, "GBP", "2026-02-14"),  # no rate yet: flagged
        (100, "GBP", "2026-02-15"),  # 1.30 → 130
        (100, "GBP", "2026-04-30"),  # 1.30 → 130
        (100, "GBP", "2026-05-01"),  # 1.25 → 125
        (1000, "USD", "2026-05-01"),  # base → 1000
    ]:
        deal(m, pipeline, "Proposal", amount, currency, close)
    p = totals_for(m, pipeline)["Proposal"]
    # 110 + 240 + 360 + 420 + 525 + 130 + 130 + 125 + 1000 = 3040; weighted at 50 %: 1520
    assert (p.count, p.total, p.weighted, p.without_rate) == (10, Decimal("3040.00"), Decimal("1520.00"), 1)


def test_totals_are_grouped_per_rate_period_not_per_day(users, pipeline, rates, django_assert_max_num_queries):
    """The totals query answers one row per (stage, currency, rate period): 60 EUR deals over 60
    different days inside two rate periods are 2 groups, not 60."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    m = users["member"]
    for i in range(60):
        deal(m, pipeline, "Proposal", 10, "EUR", (dt.date(2026, 5, 1) + dt.timedelta(i)).isoformat())
    qs = board.visible_deals(m, pipeline, board.deal_filter({}, m))
    proposal = stage(pipeline, "Proposal")
    with CaptureQueriesContext(connection) as ctx:
        totals = board.column_totals(qs, [proposal])
    rows = [q for q in ctx.captured_queries if "GROUP BY" in q["sql"]]
    assert len(rows) == 1
    with connection.cursor() as cur:
        cur.execute(rows[0]["sql"].replace("%", "%%"))  # already interpolated for the log
        assert len(cur.fetchall()) == 2  # before and after the 2026-06-01 change
    # 31 days at 1.10 (May) + 29 days at 1.20 (June 1–29): 31 × 11 + 29 × 12 = 689
    assert totals[proposal.pk].total == Decimal("689.00")


@pytest.mark.parametrize(("key", "target"), [("eur_early", "Won"), ("eur_late", "Negotiation"), ("gbp", "Proposal")])
def test_move_deltas_are_what_re_aggregating_the_columns_gives(users, pipeline, deals, key, target):
    """The page's heads after a move (figures before + the answer's deltas) equal the totals
    aggregated afresh, whatever the rate (a won deal converts on its closed day, today)."""
    member = users["member"]
    before = totals_for(member, pipeline)
    d = Deal.objects.get(pk=deals[key].pk)
    response = move(client_for(member), d, stage(pipeline, target), d.version)
    assert response.status_code == 200, response.content
    after = totals_for(member, pipeline)
    deltas = response.json()["deltas"]
    for name, t in after.items():
        delta = deltas.get(
            str(stage(pipeline, name).pk), {"count": 0, "total": "0", "weighted": "0", "without_rate": 0}
        )
        b = before[name]
        assert t.count == b.count + delta["count"], name
        assert t.total == b.total + Decimal(delta["total"]), name
        if stage(pipeline, name).kind == "open":
            assert t.weighted == b.weighted + Decimal(delta["weighted"]), name
        assert t.without_rate == b.without_rate + delta["without_rate"], name


def _cards(html):
    return re.findall(r'<article class="deal-card.*?</article>', html, re.S)


def test_cards_come_from_the_template_escaped_with_a_menu_per_permission(users, pipeline):
    """deals/board_cards.html renders every card (page, "Show more", move answers, a refreshed card):
    titles and company names escaped; the board's one menu offers the open stages, Won, Lost, Log call
    and Plan activity, and a card says which it allows — only who may change the deal gets the moves,
    only who may add activities the logging; the read-only user gets no menu and cannot drag."""
    company = write("companies", {"name": "Tom & <Jerry>"}, actor=users["member"])
    hostile = deal(
        users["member"], pipeline, "Proposal", 10, "USD", title='<img src=x onerror="alert(1)">', company=company.pk
    )
    mine = client_for(users["member"]).get("/deals/board/").content.decode()
    (card,) = [c for c in _cards(mine) if f'data-deal="{hostile.pk}"' in c]
    assert "<img" not in card and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in card
    assert "Tom &amp; &lt;Jerry&gt;" in card and "$10.00" in card
    assert "data-can-change" in card and "data-can-log" in card and "data-card-menu" in card
    assert 'aria-label="Actions for “&lt;img src=x onerror=&quot;alert(1)&quot;&gt;”"' in card
    menu = mine[mine.index('id="deal-menu"') :].split("</div>\n</div>")[0]
    moves = re.findall(r'data-menu-move="(\d+)" data-kind="(\w+)"', menu)
    assert moves == [(str(s.pk), s.kind) for s in board.board_stages(pipeline)]
    assert 'data-menu-log="call"' in menu and 'data-menu-log="task"' in menu
    assert "data-can-move" in mine and 'id="log-dialog"' in mine

    read_only = client_for(users["read-only"]).get("/deals/board/").content.decode()
    (seen,) = [c for c in _cards(read_only) if f'data-deal="{hostile.pk}"' in c]
    assert "data-can-change" not in seen and "data-can-log" not in seen and "data-card-menu" not in seen
    assert "data-can-move" not in read_only and "data-menu-move" not in read_only
    assert "data-menu-log" not in read_only and 'id="log-dialog"' not in read_only
    assert "New deal" not in read_only and "New deal" in mine

    answer = move(client_for(users["member"]), hostile, stage(pipeline, "Negotiation"), hostile.version).json()
    (moved,) = _cards(answer["card"])
    assert "&lt;img src=x" in moved and f'data-stage="{stage(pipeline, "Negotiation").pk}"' in moved


def test_a_card_refreshed_after_logging_shows_the_next_activity(users, pipeline, django_assert_num_queries):
    """The board fetches a card again after logging or planning from it: the next activity's date
    (the earliest open task, call or meeting) replaces "No next activity"; a card the user may not
    see is a 404."""
    d = deal(users["member"], pipeline, "Proposal", 10, title="Pilot")
    c = client_for(users["member"])
    assert "No next activity" in c.get(f"/deals/{d.pk}/card/").content.decode()
    for due in ("2030-01-09T09:00:00Z", "2030-01-05T09:00:00Z"):
        write(
            "activities",
            {"subject": "Follow up", "due_at": due, "links": [{"type": "deals", "id": d.pk}]},
            actor=users["member"],
        )
    # session, user and role, the deal, its stage, the pipeline's stages, its next activities
    with django_assert_num_queries(7):
        html = c.get(f"/deals/{d.pk}/card/").content.decode()
    (card,) = _cards(html)
    assert "No next activity" not in card and "Next activity: </span>Jan 5, 2030<" in card  # another year: with it
    assert client_for(users["outsider"]).get(f"/deals/{d.pk}/card/").status_code == 404
