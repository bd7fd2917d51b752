"""List pages of every type: keyset pages both ways, counts (exact up to a bound, then estimated),
the search within a list, clean URLs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from rapport.core import listing, registry
from rapport.web.lists import about, count_words

from .conftest import write


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return response.content.decode()


def named(first: str, actor: Any, last: str = "Test", **extra: Any) -> Any:
    return write("people", {"first_name": first, "last_name": last, **extra}, actor=actor)


def link(page: str, rel: str) -> str:
    found = re.search(rf'href="(\?[^"]*)" rel="{rel}"', page)
    return found.group(1).replace("&amp;", "&") if found else ""


def shown(page: str) -> list[str]:
    return re.findall(r'class="row-link" href="/people/\d+/">([^<]+)</a>', page)


# --- pages both ways --------------------------------------------------------------------------
def test_next_and_previous_walk_three_pages_both_ways(users):
    for i in range(5):
        named(f"P{i}", users["member"])
    client = client_for(users["member"])
    page1 = text(client.get("/people/?ordering=first_name&page_size=2"))
    assert shown(page1) == ["P0", "P1"]
    assert link(page1, "prev") == "" and "« First" not in page1
    assert "5 people" in page1  # exact: 5 is below the bound
    page2 = text(client.get("/people/" + link(page1, "next")))
    assert shown(page2) == ["P2", "P3"]
    assert "« First" in page2 and 'href="/people/?ordering=first_name&amp;page_size=2">« First' in page2
    page3 = text(client.get("/people/" + link(page2, "next")))
    assert shown(page3) == ["P4"] and link(page3, "next") == ""
    assert "5 people" in page3
    back2 = text(client.get("/people/" + link(page3, "prev")))
    assert shown(back2) == ["P2", "P3"]
    assert link(back2, "next") and link(back2, "prev")
    back1 = text(client.get("/people/" + link(back2, "prev")))
    assert shown(back1) == ["P0", "P1"]
    assert link(back1, "prev") == ""  # the first page again: nothing before it
    assert shown(text(client.get("/people/" + link(back1, "next")))) == ["P2", "P3"]
    # the links carry the filters and ordering, never a cursor twice: bookmarkable
    assert link(page2, "next").count("cursor=") == 1 and "ordering=first_name" in link(page2, "next")


def test_descending_order_pages_the_other_way(users):
    for i in range(3):
        named(f"P{i}", users["member"])
    client = client_for(users["member"])
    page1 = text(client.get("/people/?ordering=-first_name&page_size=2"))
    assert shown(page1) == ["P2", "P1"]
    page2 = text(client.get("/people/" + link(page1, "next")))
    assert shown(page2) == ["P0"]
    assert shown(text(client.get("/people/" + link(page2, "prev")))) == ["P2", "P1"]


# --- counts -----------------------------------------------------------------------------------
def test_count_words_by_hand():
    people = registry.get("people")
    assert count_words(listing.Count(400), people) == "400 people"
    assert count_words(listing.Count(1), people) == "1 person"
    assert count_words(listing.Count(12345), people) == "12,345 people"
    assert count_words(listing.Count(10_000, exact=False), people) == "more than 10,000 people"
    assert count_words(listing.Count(1_234_567, exact=False, estimated=True), people) == "about 1.2 million people"
    assert about(45_678) == "46,000" and about(10_001) == "10,000" and about(999_999) == "1 million"
    assert about(1_000_000) == "1 million" and about(2_460_000) == "2.5 million"


def test_count_is_exact_up_to_the_bound_and_bounded_above_it(users, settings):
    for i in range(5):
        named(f"P{i}", users["member"])
    named("Other", users["outsider"])  # another team's: never counted for the member
    client = client_for(users["member"])
    settings.RAPPORT_LIST_COUNT_BOUND = 5
    page = text(client.get("/people/?page_size=2"))
    assert "5 people" in page and "Count exactly" not in page
    settings.RAPPORT_LIST_COUNT_BOUND = 3
    page = text(client.get("/people/?page_size=2"))
    if connection.vendor == "postgresql":
        assert re.search(r"about [\d,]+ people", page) or "more than 3 people" in page
    else:
        assert "more than 3 people" in page
    exact_url = re.search(r'href="(\?[^"]*count=exact[^"]*)">Count exactly', page).group(1).replace("&amp;", "&")
    assert exact_url == "?page_size=2&count=exact"
    page = text(client.get("/people/" + exact_url))
    assert "5 people" in page and "Count exactly" not in page
    assert "count=" not in link(page, "next")  # the next page estimates again: exact only on request
    assert client.get("/people/?count=maybe").status_code == 400


def test_a_list_on_one_page_is_counted_without_a_query(users, django_assert_num_queries):
    for i in range(3):
        named(f"P{i}", users["member"])
    client = client_for(users["member"])
    client.get("/people/")
    with django_assert_num_queries(8):  # as the pinned page below, without the count
        page = text(client.get("/people/"))
    assert "3 people" in page


def test_estimate_on_postgresql_comes_from_the_planner(users, django_assert_num_queries):
    if connection.vendor != "postgresql":
        pytest.skip("the planner estimate is PostgreSQL's")
    for i in range(4):
        named(f"P{i}", users["member"])
    with connection.cursor() as cur:
        cur.execute("ANALYZE contacts_person")
    from rapport.contacts.models import Person

    count = listing.count_rows(Person.objects.visible_to(users["member"]), bound=2)
    assert count.estimated and not count.exact and count.value > 2
    # far above the bound, the estimate is shown without counting
    with django_assert_num_queries(1):
        count = listing.count_rows(Person.objects.visible_to(users["member"]), bound=1)
    assert count.estimated and count.value > 2


# --- search within a list -----------------------------------------------------------------------
def test_search_within_the_list_with_filters_and_visibility(users):
    named("Ada", users["member"], "Lovelace", emails=["ada@analytical.example"])
    named("Adah", users["member"], "Byron", lifecycle_stage="customer")
    named("Adalbert", users["outsider"], "Stifter")  # another team's: never found by the member
    named("Grace", users["member"], "Hopper", lifecycle_stage="customer")
    client = client_for(users["member"])
    page = text(client.get("/people/?q=ada&ordering=last_name"))
    assert shown(page) == ["Adah", "Ada"] and "2 people" in page
    assert 'value="ada"' in page  # the box keeps the words
    page = text(client.get("/people/?q=ada&lifecycle_stage=customer"))
    assert shown(page) == ["Adah"] and "1 person" in page
    assert shown(text(client.get("/people/?q=analytical.ex"))) == ["Ada"]  # part of an email
    assert shown(text(client.get("/people/?q=ada,+byron"))) == ["Adah"]  # a comma is not a list
    assert shown(text(client_for(users["outsider"]).get("/people/?q=ada"))) == ["Adalbert"]
    page = text(client.get("/people/?q=nobody"))
    assert "No people match “nobody”" in page
    response = client.get("/people/?q=" + "x" * 201)
    assert response.status_code == 400 and "“q”" in text(response) and "200 characters" in text(response)


def test_search_keeps_filters_and_filters_keep_search(users):
    named("Ada", users["member"], "Lovelace")
    page = text(client_for(users["member"]).get("/people/?q=ada&owner=me&ordering=last_name"))
    search_form = page[page.index('class="list-search"') : page.index("</form>", page.index('class="list-search"'))]
    assert 'name="owner" value="me"' in search_form and 'name="ordering" value="last_name"' in search_form
    assert 'name="q"' in search_form and search_form.count('name="q"') == 1
    assert '<input type="hidden" name="q" value="ada">' in page  # in the filter and column forms
    assert "Search: <strong>ada</strong>" in page


def test_api_list_and_export_search_the_same_way(users, api_client_for):
    named("Ada", users["member"], "Lovelace")
    named("Grace", users["member"], "Hopper")
    body = api_client_for(users["member"]).get("/api/v1/people/?q=lovelace").json()
    assert [r["first_name"] for r in body["results"]] == ["Ada"]
    csv = b"".join(client_for(users["member"]).get("/people/export/?format=csv&q=hopper").streaming_content)
    assert b"Grace" in csv and b"Ada" not in csv


# --- clean URLs -------------------------------------------------------------------------------
def test_empty_parameters_are_dropped_by_a_redirect(users):
    response = client_for(users["member"]).get("/people/?q=&lifecycle_stage=&owner=me&created__after=")
    assert response.status_code == 302 and response["Location"] == "/people/?owner=me"
    response = client_for(users["member"]).get("/people/?q=&lifecycle_stage=")
    assert response.status_code == 302 and response["Location"] == "/people/"


def test_filter_forms_drop_empty_fields_in_the_browser(users):
    page = text(client_for(users["member"]).get("/people/"))
    assert page.count("data-clean-get") == 3 and "/static/js/lists.js" in page


# --- cost ---------------------------------------------------------------------------------------
def test_list_page_queries_are_pinned(users, django_assert_num_queries):
    for i in range(12):
        named(f"P{i}", users["member"])
    client = client_for(users["member"])
    client.get("/people/")  # warm caches
    # session, user, role, custom fields, the page, the bounded count, users, teams, saved views;
    # PostgreSQL asks its planner first (EXPLAIN) and counts only when the estimate is not far above the bound
    with django_assert_num_queries(10 if connection.vendor == "postgresql" else 9):
        page = text(client.get("/people/?q=test&page_size=5"))
    assert "12 people" in page


# --- settings lists: exchange rates and quotas ---------------------------------------------------
def test_rates_page_pages_by_keyset_newest_first_with_a_currency_filter(users):
    import datetime as dt
    from decimal import Decimal

    from rapport.forecasting import services as money_services

    admin = users["admin"]
    for month in range(1, 6):  # EUR from 1 Jan … 1 May 2025
        money_services.add_exchange_rate(
            {"currency": "EUR", "rate": Decimal(f"1.{month}"), "valid_from": dt.date(2025, month, 1)}, actor=admin
        )
    money_services.add_exchange_rate(
        {"currency": "GBP", "rate": Decimal("1.25"), "valid_from": dt.date(2025, 3, 15)}, actor=admin
    )
    client = client_for(admin)
    days = lambda page: re.findall(r"<td>(\w{3} \d+, 2025)", page)  # noqa: E731  (the admin's locale: en-US)
    page1 = text(client.get("/settings/rates/?page_size=4"))
    assert days(page1) == ["May 1, 2025", "Apr 1, 2025", "Mar 15, 2025", "Mar 1, 2025"]
    assert page1.count(">In force<") == 2  # EUR from 1 May and GBP from 15 March
    page2 = text(client.get("/settings/rates/" + link(page1, "next")))
    assert days(page2) == ["Feb 1, 2025", "Jan 1, 2025"] and link(page2, "next") == ""
    assert days(text(client.get("/settings/rates/" + link(page2, "prev")))) == days(page1)
    page = text(client.get("/settings/rates/?currency=GBP"))
    assert days(page) == ["Mar 15, 2025"] and 'rel="next"' not in page
    assert client.get("/settings/rates/?currency=XXX").status_code == 400
    assert client.get("/settings/rates/?cursor=nope").status_code == 400


def test_quotas_page_pages_by_keyset_past_the_old_cap(users, django_assert_num_queries):
    import datetime as dt
    from decimal import Decimal

    from rapport.forecasting import services as money_services

    admin = users["admin"]
    for month in range(1, 8):
        start = dt.date(2026, month, 1)
        money_services.set_quota(
            {"user": users["member"], "period": "month", "period_start": start, "amount": Decimal(month)}, actor=admin
        )
    client = client_for(admin)
    client.get("/settings/quotas/")
    with django_assert_num_queries(6):  # session, user, role, the page's keys, its rows, users for the form
        page1 = text(client.get("/settings/quotas/?page_size=3"))
    starts = lambda page: re.findall(r"<td>(\w{3} 1, 2026)</td>", page)  # noqa: E731  (en-US)
    assert starts(page1) == ["Jul 1, 2026", "Jun 1, 2026", "May 1, 2026"]
    page2 = text(client.get("/settings/quotas/" + link(page1, "next")))
    assert starts(page2) == ["Apr 1, 2026", "Mar 1, 2026", "Feb 1, 2026"]
    page3 = text(client.get("/settings/quotas/" + link(page2, "next")))
    assert starts(page3) == ["Jan 1, 2026"] and link(page3, "next") == ""
    assert starts(text(client.get("/settings/quotas/" + link(page3, "prev")))) == starts(page2)


# --- select all N matching: bulk actions at once or as a job ----------------------------------------
def bulk_post(client: Client, follow: bool = False, **data: Any) -> Any:
    return client.post("/people/bulk/", {"next": "/people/", **data}, follow=follow)


def owner_events(person: Any) -> list[dict[str, Any]]:
    from rapport.core.models import Event

    return list(
        Event.objects.filter(type_key="people", record_id=person.pk, kind="updated").values_list("changes", flat=True)
    )


def test_select_all_matching_a_few_runs_at_once(users):
    from rapport.contacts.models import Person

    leads = [named(f"L{i}", users["member"], lifecycle_stage="lead") for i in range(5)]
    customer = named("C", users["member"], lifecycle_stage="customer")
    client = client_for(users["member"])
    response = bulk_post(
        client, action="assign_owner", owner=users["peer"].pk, scope="matching", params="lifecycle_stage=lead"
    )
    assert response.status_code == 302 and response["Location"] == "/people/"
    assert set(Person.objects.filter(pk__in=[p.pk for p in leads]).values_list("owner_id", flat=True)) == {
        users["peer"].pk
    }
    assert Person.objects.get(pk=customer.pk).owner_id == users["member"].pk
    for lead in leads:  # one event each, naming the owner before and after
        assert [c["owner"] for c in owner_events(lead)] == [[users["member"].pk, users["peer"].pk]]
    page = text(client.get("/people/"))
    assert "Updated 5 people." in page


def test_list_offers_select_all_matching_only_with_more_than_a_page(users):
    for i in range(3):
        named(f"L{i}", users["member"], lifecycle_stage="lead")
    client = client_for(users["member"])
    page = text(client.get("/people/?lifecycle_stage=lead&page_size=2"))
    assert "Select all 3 people matching" in page
    assert '<input type="hidden" name="params" value="lifecycle_stage=lead">' in page
    assert "data-select-matching" not in text(client.get("/people/?lifecycle_stage=lead"))
    read_only = text(client_for(users["read-only"]).get("/people/?page_size=2"))
    assert "bulk-form" not in read_only and "data-select-all" not in read_only  # no control it cannot use


@pytest.fixture
def big_selection(users, settings):
    settings.RAPPORT_BULK_SYNC_LIMIT = 3
    mine = [named(f"L{i}", users["member"], lifecycle_stage="lead") for i in range(4)]
    peers = named("L-peer", users["peer"], lifecycle_stage="lead")  # same team: the member may change it
    foreign = named("L-far", users["outsider"], lifecycle_stage="lead")  # another team's: never touched
    return {"mine": mine, "peers": peers, "foreign": foreign}


def start_assign(users, django_capture_on_commit_callbacks) -> Any:
    from rapport.core.models import BulkChange

    with django_capture_on_commit_callbacks(execute=True):
        response = bulk_post(
            client_for(users["member"]),
            action="assign_owner",
            owner=users["manager"].pk,
            scope="matching",
            params="lifecycle_stage=lead&q=l",
        )
    change = BulkChange.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/people/bulk/{change.pk}/"
    return change


def run_jobs() -> int:
    from rapport.jobs.worker import Worker

    return Worker(worker_id="test-worker").run_pending()


def test_select_all_matching_many_runs_as_a_job_with_progress(
    users, big_selection, django_capture_on_commit_callbacks, monkeypatch
):
    from rapport.contacts.models import Person
    from rapport.core import bulkedit
    from rapport.core.models import BulkChange

    monkeypatch.setattr(bulkedit, "BATCH", 2)
    change = start_assign(users, django_capture_on_commit_callbacks)
    client = client_for(users["member"])
    page = text(client.get(f"/people/bulk/{change.pk}/"))
    assert "Assign owner Manager · people matching the list" in page and "Waiting for a worker" in page
    assert f'hx-get="/people/bulk/{change.pk}/" hx-trigger="every 1s"' in page
    assert client_for(users["peer"]).get(f"/people/bulk/{change.pk}/").status_code == 404  # not theirs
    assert run_jobs() == 2  # the change, and the dispatch of the events the fixture's writes made
    change.refresh_from_db()
    assert (change.status, change.total, change.done, change.changed, change.skipped) == ("done", 5, 5, 5, 0)
    changed = [*big_selection["mine"], big_selection["peers"]]
    assert set(Person.objects.filter(pk__in=[p.pk for p in changed]).values_list("owner_id", flat=True)) == {
        users["manager"].pk
    }
    assert Person.objects.get(pk=big_selection["foreign"].pk).owner_id == users["outsider"].pk
    for person in changed:
        assert len(owner_events(person)) == 1
    assert owner_events(big_selection["peers"])[0]["owner"] == [users["peer"].pk, users["manager"].pk]
    panel = text(client.get(f"/people/bulk/{change.pk}/", headers={"HX-Request": "true"}))
    assert "Updated 5 people." in panel and "hx-trigger" not in panel and "<html" not in panel
    assert 'value="100"' in panel and 'href="/people/?lifecycle_stage=lead&amp;q=l"' in panel
    assert BulkChange.objects.get().status == "done" and run_jobs() == 0


def test_bulk_job_resumes_after_a_failed_batch_without_changing_twice(users, big_selection, monkeypatch):
    from rapport.core import bulkedit, registry
    from rapport.core.models import BulkChange

    monkeypatch.setattr(bulkedit, "BATCH", 2)
    action = bulkedit.check_action(registry.get("people"), "add_tag", {"tag": "hot"}, users["member"])
    change = bulkedit.start(registry.get("people"), "lifecycle_stage=lead", action, actor=users["member"])
    real_apply, calls = bulkedit.apply, []

    def flaky(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(bulkedit, "apply", flaky)
    with pytest.raises(RuntimeError):
        bulkedit.run_bulk_change(change.pk, final_attempt=False)
    change.refresh_from_db()
    ordered = sorted([*big_selection["mine"], big_selection["peers"]], key=lambda p: p.pk)
    # the first batch of 2 committed with its progress; the second rolled back
    assert (change.status, change.total, change.done, change.changed) == ("running", 5, 2, 2)
    assert change.last_id == ordered[1].pk and "Trying again after: the database went away" in change.error
    page = text(client_for(users["member"]).get(f"/people/bulk/{change.pk}/"))
    assert "2 of 5 people done (40 %)" in page
    bulkedit.run_bulk_change(change.pk)  # the retry
    change.refresh_from_db()
    assert (change.status, change.done, change.changed) == ("done", 5, 5)
    for person in ordered:
        person.refresh_from_db()
        assert person.tags == ["hot"] and len(owner_events(person)) == 1
    assert bulkedit.run_bulk_change(change.pk).status == BulkChange.DONE  # again: nothing to do
    assert sum(len(owner_events(p)) for p in ordered) == 5


def test_bulk_job_checks_permission_and_visibility_again(users, big_selection, django_capture_on_commit_callbacks):
    from rapport.accounts.models import Role
    from rapport.contacts.models import Person
    from rapport.core.models import BulkChange

    change = start_assign(users, django_capture_on_commit_callbacks)
    # between the click and the job, one record moves to another team: it is no longer the member's to change
    moved = big_selection["mine"][0]
    write("people", {"owner": users["outsider"].pk}, actor=users["admin"], instance=moved)
    run_jobs()
    change.refresh_from_db()
    assert (change.status, change.total, change.changed) == ("done", 4, 4)
    assert Person.objects.get(pk=moved.pk).owner_id == users["outsider"].pk
    # a second change started, then the member becomes read-only: the job stops without changing anything
    BulkChange.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        bulk_post(
            client_for(users["member"]), action="add_tag", tag="x", scope="matching", params="lifecycle_stage=lead"
        )
    users["member"].role = Role.objects.get(key="read-only")
    users["member"].save()
    run_jobs()
    change = BulkChange.objects.get()
    assert change.status == "failed" and change.error == "Stopped: action: you may not change people."
    assert not Person.objects.filter(tags__has_element="x").exists()


def test_bulk_delete_of_all_matching_as_a_job(users, big_selection, django_capture_on_commit_callbacks):
    from rapport.contacts.models import Person
    from rapport.core.models import BulkChange, Event

    with django_capture_on_commit_callbacks(execute=True):
        bulk_post(client_for(users["member"]), action="delete", scope="matching", params="lifecycle_stage=lead")
    run_jobs()
    change = BulkChange.objects.get()
    # members delete only their own: 4 binned, the peer's skipped (seen but not deletable)
    assert (change.status, change.total, change.changed, change.skipped) == ("done", 4, 4, 1)
    assert Person.objects.filter(deleted_at__isnull=False).count() == 4
    assert Event.objects.filter(type_key="people", kind="deleted").count() == 4
    page = text(client_for(users["member"]).get(f"/people/bulk/{change.pk}/"))
    assert "Deleted 4 people. 1 skipped: you may not delete them." in page


def test_bulk_refuses_bad_input_naming_the_field(users):
    named("A", users["member"])
    client = client_for(users["member"])
    page = text(bulk_post(client, action="assign_owner", owner="", scope="matching", params="", follow=True))
    assert "Nothing was changed. Owner: choose an active user." in page
    page = text(bulk_post(client, action="add_tag", tag="x" * 51, ids=["1"], follow=True))
    assert "Nothing was changed. Tag: use at most 50 characters." in page
    page = text(bulk_post(client, action="add_tag", tag="x", scope="matching", params="colour=red", follow=True))
    assert "The filter “colour” cannot be used" in page


def test_bulk_progress_poll_queries_are_pinned(users, big_selection, django_capture_on_commit_callbacks,
                                               django_assert_num_queries):  # fmt: skip
    change = start_assign(users, django_capture_on_commit_callbacks)
    client = client_for(users["member"])
    client.get(f"/people/bulk/{change.pk}/")
    with django_assert_num_queries(5):  # session, user, role, the change, the new owner's name
        client.get(f"/people/bulk/{change.pk}/", headers={"HX-Request": "true"})
