"""The server-rendered pages: lists (filters, ordering, pages, columns, saved views, bulk actions),
detail pages with history, forms, the recycle bin and search, as a user sees them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from rapport.contacts.models import Company, Person
from rapport.core import services
from rapport.core.models import CustomField, Event, SavedView

from .conftest import write


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return response.content.decode()


def person_named(first: str, actor: Any, **extra: Any) -> Person:
    return write("people", {"first_name": first, "last_name": "Test", **extra}, actor=actor)


# --- list page --------------------------------------------------------------------------------
def test_list_shows_visible_records_and_links_to_detail(users, person):
    hidden = person_named("Hidden", users["outsider"])
    page = text(client_for(users["member"]).get("/people/"))
    assert f'href="/people/{person.pk}/"' in page
    assert "Ada" in page and "Hidden" not in page
    assert f"/people/{hidden.pk}/" not in page


def test_list_filters_by_choice_owner_tag_and_date(users):
    a = person_named("Alpha", users["member"], lifecycle_stage="customer", tags=["vip"])
    b = person_named("Bravo", users["peer"], lifecycle_stage="lead")
    client = client_for(users["member"])
    page = text(client.get("/people/?lifecycle_stage=customer"))
    assert "Alpha" in page and "Bravo" not in page
    page = text(client.get("/people/?owner=me"))
    assert "Alpha" in page and "Bravo" not in page
    page = text(client.get(f"/people/?owner={users['peer'].pk}"))
    assert "Bravo" in page and "Alpha" not in page
    page = text(client.get("/people/?tag=vip"))
    assert "Alpha" in page and "Bravo" not in page
    page = text(client.get("/people/?created__after=2999-01-01"))
    assert "Alpha" not in page and "No people match these filters" in page
    assert a.pk and b.pk


def test_list_filters_by_custom_field(users):
    CustomField.objects.create(
        record_type="people", key="segment", label="Segment", field_type="choice", choices=["SMB", "Ent"]
    )
    person_named("Small", users["member"], custom={"segment": "SMB"})
    person_named("Large", users["member"], custom={"segment": "Ent"})
    page = text(client_for(users["member"]).get("/people/?cf_segment=SMB"))
    assert "Small" in page and "Large" not in page


def test_unknown_or_bad_parameters_answer_400_with_the_parameter_named(users, person):
    client = client_for(users["member"])
    response = client.get("/people/?colour=red")
    assert response.status_code == 400
    assert "colour" in text(response) and "not a filter" in text(response)
    response = client.get("/people/?ordering=notes")
    assert response.status_code == 400 and "ordering" in text(response)
    response = client.get("/people/?lifecycle_stage=astronaut")
    assert response.status_code == 400 and "astronaut" in text(response)
    response = client.get("/people/?cursor=garbage!")
    assert response.status_code == 400 and "cursor" in text(response)
    response = client.get("/people/?created__after=yesterday")
    assert response.status_code == 400 and "YYYY-MM-DD" in text(response)


def test_ordering_by_column_header(users):
    for name in ("Charlie", "Alice", "Bob"):
        person_named(name, users["member"])
    client = client_for(users["member"])
    page = text(client.get("/people/?ordering=first_name"))
    assert page.index("Alice") < page.index("Bob") < page.index("Charlie")
    assert 'href="?ordering=-first_name"' in page  # clicking again reverses
    page = text(client.get("/people/?ordering=-first_name"))
    assert page.index("Charlie") < page.index("Bob") < page.index("Alice")


def test_keyset_pages_with_next_and_previous(users):
    for i in range(5):
        person_named(f"P{i}", users["member"])
    client = client_for(users["member"])
    page = text(client.get("/people/?ordering=first_name&page_size=2"))
    assert ">P0</a>" in page and ">P1</a>" in page and ">P2</a>" not in page
    assert "5 people" in page  # exact below RAPPORT_LIST_COUNT_BOUND
    next_url = re.search(r'href="(\?[^"]*cursor=[^"]+)" rel="next"', page).group(1).replace("&amp;", "&")
    page2 = text(client.get("/people/" + next_url))
    assert ">P2</a>" in page2 and ">P3</a>" in page2 and ">P1</a>" not in page2
    prev_url = re.search(r'href="(\?[^"]*cursor=[^"]+)" rel="prev"', page2).group(1).replace("&amp;", "&")
    back = text(client.get("/people/" + prev_url))
    assert ">P0</a>" in back and ">P1</a>" in back and ">P2</a>" not in back


def test_empty_state(users):
    page = text(client_for(users["member"]).get("/companies/"))
    assert "No companies yet" in page and 'href="/companies/new/"' in page


def test_column_picker(users, person):
    client = client_for(users["member"])
    page = text(client.get("/people/"))
    assert ">Email<" in page and ">Job title<" not in page  # defaults from Column.default
    write("people", {"job_title": "Analyst"}, actor=users["member"], instance=person)
    page = text(client.get("/people/?columns=first_name,job_title"))
    assert ">Job title<" in page and "Analyst" in page and ">Email<" not in page
    response = client.get("/people/?columns=first_name,password")
    assert response.status_code == 400 and "password" in text(response)


def test_custom_field_column_resolves_users_in_batch(users, person):
    CustomField.objects.create(record_type="people", key="buddy", label="Buddy", field_type="user")
    write("people", {"custom": {"buddy": users["peer"].pk}}, actor=users["member"], instance=person)
    page = text(client_for(users["member"]).get("/people/?columns=first_name,cf_buddy"))
    assert ">Buddy<" in page and "Peer" in page


def test_list_escapes_html_in_names(users):
    person_named("<script>alert(1)</script>", users["member"])
    page = text(client_for(users["member"]).get("/people/"))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_list_query_count_is_pinned(users, company, django_assert_max_num_queries):
    CustomField.objects.create(record_type="people", key="buddy", label="Buddy", field_type="user")
    for i in range(30):
        person_named(f"N{i}", users["member"], tags=["x"], company=company.pk, custom={"buddy": users["peer"].pk})
    client = client_for(users["member"])
    client.get("/people/")  # warm caches (content types, sessions)
    # session, user, role, custom fields, page, linked users, owner choices, teams, saved views
    with django_assert_max_num_queries(10):
        response = client.get("/people/?columns=first_name,email,company,owner,tags,cf_buddy")
    assert response.status_code == 200 and text(response).count('name="ids"') == 30


def test_home_and_bin_query_counts_are_pinned(users, django_assert_max_num_queries):
    for i in range(12):
        services.delete_record(person_named(f"N{i}", users["member"]), actor=users["member"], source="ui")
        person_named(f"L{i}", users["member"])
    client = client_for(users["member"])
    from rapport.core import registry

    # session, user, role; then one "recently updated" query per record type: never per row
    with django_assert_max_num_queries(3 + len(registry.keys())):
        assert client.get("/").status_code == 200
    with django_assert_max_num_queries(3 + len(registry.keys())):  # one query per type in the bin
        assert client.get("/bin/").status_code == 200


def test_export_buttons_keep_filters(users):
    page = text(client_for(users["member"]).get("/people/?lifecycle_stage=lead"))
    assert 'href="/people/export/?format=csv&amp;lifecycle_stage=lead"' in page
    assert 'href="/people/export/?format=xlsx&amp;lifecycle_stage=lead"' in page


def test_export_link_downloads_the_filtered_visible_list(users, person):
    person_named("Foreign", users["outsider"])
    person_named("Customer", users["member"], lifecycle_stage="customer")
    response = client_for(users["member"]).get("/people/export/?format=csv&lifecycle_stage=lead")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert b"Lovelace" in body and b"Foreign" not in body and b"Customer" not in body
    assert client_for(users["member"]).get("/people/export/?format=pdf").status_code == 400


# --- saved views ------------------------------------------------------------------------------
def test_saved_views_private_and_shared(users):
    member, peer = client_for(users["member"]), client_for(users["peer"])
    member.post("/people/views/", {"name": "My leads", "params": "lifecycle_stage=lead&cursor=abc"})
    member.post("/people/views/", {"name": "Team customers", "params": "lifecycle_stage=customer", "shared": "on"})
    mine = SavedView.objects.get(name="My leads")
    assert mine.params == "lifecycle_stage=lead" and not mine.shared
    own_page, peer_page = text(member.get("/people/")), text(peer.get("/people/"))
    assert "My leads" in own_page and "Team customers" in own_page
    assert "My leads" not in peer_page and "Team customers" in peer_page
    assert 'href="/people/?lifecycle_stage=customer"' in peer_page
    shared = SavedView.objects.get(name="Team customers")
    assert peer.post(f"/people/views/{shared.pk}/delete/").status_code == 404
    assert SavedView.objects.filter(pk=shared.pk).exists()
    member.post(f"/people/views/{shared.pk}/delete/")
    assert not SavedView.objects.filter(pk=shared.pk).exists()


def test_saved_view_with_bad_params_is_refused(users):
    response = client_for(users["member"]).post("/people/views/", {"name": "Bad", "params": "colour=red"}, follow=True)
    assert "colour" in text(response) and not SavedView.objects.exists()


# --- bulk actions -----------------------------------------------------------------------------
def test_bulk_add_and_remove_tag_and_assign_owner(users):
    a = person_named("A", users["member"])
    b = person_named("B", users["peer"])
    client = client_for(users["member"])
    client.post("/people/bulk/", {"action": "add_tag", "tag": "hot", "ids": [a.pk, b.pk]})
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.tags == ["hot"] and b.tags == ["hot"]
    assert Event.objects.filter(type_key="people", record_id=a.pk, kind="updated", source="ui").exists()
    client.post("/people/bulk/", {"action": "remove_tag", "tag": "HOT", "ids": [a.pk]})
    a.refresh_from_db()
    assert a.tags == []
    client.post("/people/bulk/", {"action": "assign_owner", "owner": users["peer"].pk, "ids": [a.pk]})
    a.refresh_from_db()
    assert a.owner_id == users["peer"].pk


def test_bulk_respects_permissions(users):
    mine = person_named("Mine", users["member"])
    peers = person_named("Peers", users["peer"])
    foreign = person_named("Foreign", users["outsider"])
    client = client_for(users["member"])
    # members delete only their own records; other teams' records are invisible
    response = client.post("/people/bulk/", {"action": "delete", "ids": [mine.pk, peers.pk, foreign.pk]}, follow=True)
    assert "Deleted 1 person" in text(response) and "2 skipped" in text(response)
    assert Person.objects.get(pk=mine.pk).deleted_at is not None
    assert Person.objects.get(pk=peers.pk).deleted_at is None
    assert Person.objects.get(pk=foreign.pk).deleted_at is None
    client.post("/people/bulk/", {"action": "add_tag", "tag": "x", "ids": [foreign.pk]})
    assert Person.objects.get(pk=foreign.pk).tags == []
    read_only = client_for(users["read-only"])
    read_only.post("/people/bulk/", {"action": "add_tag", "tag": "x", "ids": [peers.pk]})
    assert Person.objects.get(pk=peers.pk).tags == []


def test_bulk_is_all_or_nothing(users):
    a = person_named("A", users["member"])
    b = person_named("B", users["member"])
    # a member may not hand records to another team's user: the whole batch is refused
    response = client_for(users["member"]).post(
        "/people/bulk/", {"action": "assign_owner", "owner": users["outsider"].pk, "ids": [a.pk, b.pk]}, follow=True
    )
    assert "Nothing was changed" in text(response) and "owner" in text(response)
    assert set(Person.objects.values_list("owner_id", flat=True)) == {users["member"].pk}


def test_bulk_tag_too_long_names_the_field(users):
    a = person_named("A", users["member"])
    response = client_for(users["member"]).post(
        "/people/bulk/", {"action": "add_tag", "tag": "x" * 60, "ids": [a.pk]}, follow=True
    )
    assert "Nothing was changed" in text(response) and "tags" in text(response)


# --- detail page ------------------------------------------------------------------------------
def test_detail_shows_fields_links_custom_fields_and_history(users, person, company):
    CustomField.objects.create(record_type="people", key="budget", label="Budget", field_type="money")
    write(
        "people",
        {
            "phones": [{"number": "+44 20 7946 0958", "kind": "mobile"}],
            "custom": {"budget": {"amount": "5", "currency": "eur"}},
        },
        actor=users["peer"],
        instance=person,
    )
    client = client_for(users["member"])
    page = text(client.get(f"/people/{person.pk}/"))
    assert "Lovelace" in page and "ada@acme.com" in page and "primary" in page
    assert "+44 20 7946 0958" in page  # formatted, not E.164
    assert f'href="/companies/{company.pk}/"' in page
    assert "Budget" in page and "€5.00" in page
    # the timeline leads the page; its Changes tab is the history (no separate History card)
    assert page.index('id="activity-panel-title"') < page.index("<h2>Details</h2>")
    assert 'id="history-title"' not in page
    history = text(client.get(f"/people/{person.pk}/timeline/?kind=changes"))
    assert "Peer" in history and 'event-kind">created<' in history and 'event-kind">changed' in history
    assert history.index('event-kind">changed') < history.index('event-kind">created<')  # newest first


def test_detail_folds_empty_fields(users, person):
    """Filled fields show; the empty ones fold under one line that counts them."""
    page = text(client_for(users["member"]).get(f"/people/{person.pk}/"))
    filled, _, folded = page.partition('<details class="empty-fields">')
    assert "Job title" not in filled and "Job title" in folded.split("</details>")[0]
    assert "Lovelace" in filled
    # a person made with a name, an email and a company (lifecycle stage has a default) leaves these
    # empty: phones, job title, lead status, source, street, city, postal code, region, country
    assert "9 empty fields</summary>" in folded


def test_company_detail_lists_its_people(users, person, company):
    page = text(client_for(users["member"]).get(f"/companies/{company.pk}/"))
    assert f'href="/people/{person.pk}/"' in page and "Ada Lovelace" in page
    assert f'href="/people/?company={company.pk}"' in page


def test_history_shows_names_for_ids(users, person, company):
    other = write("companies", {"name": "Globex"}, actor=users["member"])
    write("people", {"company": other.pk, "owner": users["peer"].pk}, actor=users["member"], instance=person)
    history = text(client_for(users["member"]).get(f"/people/{person.pk}/timeline/?kind=changes"))
    assert "Acme" in history and "Globex" in history and "Peer" in history


def test_history_is_keyset_paginated(users, person):
    for i in range(25):
        write("people", {"job_title": f"T{i}"}, actor=users["member"], instance=person)
    client = client_for(users["member"])
    page = text(client.get(f"/people/{person.pk}/timeline/?kind=changes"))
    assert "T24" in page and 'event-kind">created<' not in page
    cursor = re.search(r"cursor=([^\"&]+)", page).group(1)
    more = text(client.get(f"/people/{person.pk}/timeline/?kind=changes&cursor={cursor}", HTTP_HX_REQUEST="true"))
    assert 'event-kind">created<' in more and "<html" not in more


def test_detail_of_invisible_record_is_404(users, person):
    assert client_for(users["outsider"]).get(f"/people/{person.pk}/").status_code == 404
    assert client_for(users["outsider"]).get(f"/people/{person.pk}/edit/").status_code == 404
    assert client_for(users["member"]).get("/people/999999/").status_code == 404


def test_detail_buttons_follow_permissions(users, person):
    page = text(client_for(users["member"]).get(f"/people/{person.pk}/"))
    assert f"/people/{person.pk}/edit/" in page and f"/people/{person.pk}/delete/" in page
    page = text(client_for(users["peer"]).get(f"/people/{person.pk}/"))
    assert f"/people/{person.pk}/edit/" in page and f"/people/{person.pk}/delete/" not in page
    page = text(client_for(users["read-only"]).get(f"/people/{person.pk}/"))
    assert "/edit/" not in page and "/delete/" not in page
    assert client_for(users["read-only"]).get(f"/people/{person.pk}/edit/").status_code == 403


def test_detail_escapes_names_and_notes_and_keeps_line_breaks(users):
    p = person_named("<b>Bold</b>", users["member"], notes="first <script>x()</script>\nsecond")
    page = text(client_for(users["member"]).get(f"/people/{p.pk}/"))
    assert "<b>Bold</b>" not in page and "&lt;b&gt;Bold&lt;/b&gt;" in page
    assert "<script>x()</script>" not in page
    assert "first &lt;script&gt;x()&lt;/script&gt;<br>second" in page


def test_detail_query_count_is_pinned(users, person, company, django_assert_max_num_queries):
    CustomField.objects.create(record_type="people", key="buddy", label="Buddy", field_type="user")
    for i in range(10):
        write(
            "people",
            {"job_title": f"T{i}", "custom": {"buddy": users["peer"].pk}},
            actor=users["member"],
            instance=person,
        )
    client = client_for(users["member"])
    client.get(f"/people/{person.pk}/")
    # +1 each: the records merged into it, whose events its history shows (core.merged)
    with django_assert_max_num_queries(13):
        assert client.get(f"/people/{person.pk}/").status_code == 200
    with django_assert_max_num_queries(11):
        assert client.get(f"/companies/{company.pk}/").status_code == 200


# --- forms ------------------------------------------------------------------------------------
def test_create_company_and_person_from_forms(users):
    client = client_for(users["member"])
    page = text(client.get("/companies/new/"))
    assert 'name="name"' in page and "autofocus" in page and 'name="size_band"' in page
    response = client.post("/companies/new/", {"name": "Initech", "domain": "https://www.Initech.com/", "tags": "b, a"})
    company = Company.objects.get(name="Initech")
    assert response.status_code == 302 and response["Location"] == f"/companies/{company.pk}/"
    assert company.domain == "initech.com" and company.tags == ["a", "b"] and company.owner == users["member"]
    assert Event.objects.get(type_key="companies", record_id=company.pk).source == "ui"
    response = client.post(
        "/people/new/",
        {
            "first_name": "Bill",
            "last_name": "Lumbergh",
            "emails": ["bill@initech.com", "", "b@initech.com"],
            "emails_primary": "2",
            "phones": ["+1 415 555 2671"],
            "phones_kind": ["mobile"],
            "company": str(company.pk),
            "lifecycle_stage": "lead",
            "owner": str(users["member"].pk),
        },
    )
    assert response.status_code == 302
    bill = Person.objects.get(last_name="Lumbergh")
    assert bill.primary_email == "b@initech.com" and bill.company == company
    assert list(bill.emails.values_list("email", flat=True)) == ["b@initech.com", "bill@initech.com"]
    assert bill.phones.get().kind == "mobile"


def test_new_person_from_company_preselects_it(users, company):
    page = text(client_for(users["member"]).get(f"/people/new/?company={company.pk}"))
    assert f'name="company" value="{company.pk}"' in page and 'value="Acme"' in page


def test_form_errors_name_the_field_and_keep_input(users, person):
    client = client_for(users["member"])
    response = client.post(
        "/people/new/",
        {
            "first_name": "Dup",
            "emails": ["fine@example.com", "not-an-email"],
            "phones": ["12"],
            "lifecycle_stage": "lead",
        },
    )
    assert response.status_code == 400
    page = text(response)
    emails = page[page.index('data-field="emails"') : page.index('data-field="phones"')]
    assert "not a valid email address" in emails
    assert 'value="fine@example.com"' in page and 'value="Dup"' in page
    assert "not a valid phone number" in page[page.index('data-field="phones"') :]
    response = client.post("/people/new/", {"first_name": "Dup", "emails": ["fine@example.com", "ADA@acme.com"]})
    assert response.status_code == 400 and "belongs to another person" in text(response)
    assert Person.objects.count() == 1
    response = client.post("/companies/new/", {"name": "  ", "domain": "acme.com"})
    page = text(response)
    assert 'id="err_name"' in page and "already has the domain acme.com" in page[page.index('id="err_domain"') :]


def test_custom_field_errors_next_to_the_field(users):
    CustomField.objects.create(record_type="companies", key="score", label="Score", field_type="number", required=True)
    CustomField.objects.create(
        record_type="companies", key="tier", label="Tier", field_type="choice", choices=["A", "B"]
    )
    client = client_for(users["member"])
    page = text(client.get("/companies/new/"))
    assert 'name="cf_score"' in page and 'name="cf_tier"' in page
    response = client.post("/companies/new/", {"name": "Hooli", "cf_score": "lots", "cf_tier": "Z"})
    page = text(response)
    assert response.status_code == 400
    score = page[page.index('data-field="cf_score"') :]
    assert "Enter a number." in score[: score.index('data-field="cf_tier"')]
    assert "is not one of the choices" in page
    assert not Company.objects.filter(name="Hooli").exists()
    client.post("/companies/new/", {"name": "Hooli", "cf_score": "7", "cf_tier": "A"})
    assert Company.objects.get(name="Hooli").custom == {"score": 7, "tier": "A"}


def test_every_custom_field_type_has_an_input(users):
    for t, _ in CustomField.TYPES:
        CustomField.objects.create(
            record_type="people",
            key=f"f_{t}",
            label=f"F {t}",
            field_type=t,
            choices=["x", "y"],
            reference_type="companies",
        )
    page = text(client_for(users["member"]).get("/people/new/"))
    assert '<textarea id="id_cf_f_long_text"' in page
    assert 'type="number" step="any"' in page and 'type="date"' in page and 'type="datetime-local"' in page
    assert 'name="cf_f_money__currency"' in page and 'type="checkbox" id="id_cf_f_boolean"' in page
    assert 'name="cf_f_multi_choice" value="y"' in page
    # user and reference fields are the one link picker, searching users and companies by name
    assert re.search(r'data-picker data-type="users">\s*<input type="hidden" name="cf_f_user"', page)
    assert re.search(r'data-picker data-type="companies">\s*<input type="hidden" name="cf_f_reference"', page)


def test_edit_and_stale_version(users, person):
    client = client_for(users["member"])
    page = text(client.get(f"/people/{person.pk}/edit/"))
    assert 'name="version" value="1"' in page and 'value="Lovelace"' in page
    form = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "emails": ["ada@acme.com"],
        "emails_primary": "0",
        "job_title": "Countess",
        "lifecycle_stage": "lead",
        "owner": str(users["member"].pk),
        "company": str(person.company_id),
        "version": "1",
    }
    assert client.post(f"/people/{person.pk}/edit/", form).status_code == 302
    person.refresh_from_db()
    assert person.job_title == "Countess" and person.version == 2
    # someone else saves meanwhile; our form still says version 2
    write("people", {"job_title": "Mathematician"}, actor=users["peer"], instance=person)
    response = client.post(f"/people/{person.pk}/edit/", {**form, "job_title": "Poet", "version": "2"})
    page = text(response)
    assert response.status_code == 409
    assert "changed by someone else" in page
    assert 'value="Poet"' in page  # nothing typed is lost
    assert "Mathematician" in page  # the fresh value is shown
    assert 'name="version" value="3"' in page
    person.refresh_from_db()
    assert person.job_title == "Mathematician"
    assert client.post(f"/people/{person.pk}/edit/", {**form, "job_title": "Poet", "version": "3"}).status_code == 302
    person.refresh_from_db()
    assert person.job_title == "Poet"


def test_create_needs_add_permission(users):
    assert client_for(users["read-only"]).get("/people/new/").status_code == 404
    assert client_for(users["read-only"]).post("/people/new/", {"first_name": "X"}).status_code == 404
    assert not Person.objects.exists()


# --- delete, recycle bin, restore -------------------------------------------------------------
def test_delete_and_restore_from_bin(users, person):
    client = client_for(users["member"])
    assert "Delete" in text(client.get(f"/people/{person.pk}/delete/"))
    response = client.post(f"/people/{person.pk}/delete/", follow=True)
    assert "recycle bin" in text(response)
    assert client.get(f"/people/{person.pk}/").status_code == 404
    page = text(client.get("/bin/"))
    assert "Ada Lovelace" in page and f"/bin/people/{person.pk}/restore/" in page
    response = client.post(f"/bin/people/{person.pk}/restore/")
    assert response.status_code == 302 and response["Location"] == f"/people/{person.pk}/"
    person.refresh_from_db()
    assert person.deleted_at is None
    assert f"/bin/people/{person.pk}/restore/" not in text(client.get("/bin/"))


def test_bin_hides_what_the_user_may_not_restore_and_names_the_clash(users, company):
    services.delete_record(company, actor=users["member"], source="ui")
    assert "Acme" not in text(client_for(users["peer"]).get("/bin/"))  # members restore only their own
    assert client_for(users["outsider"]).post(f"/bin/companies/{company.pk}/restore/").status_code == 404
    write("companies", {"name": "Acme 2", "domain": "acme.com"}, actor=users["member"])
    response = client_for(users["member"]).post(f"/bin/companies/{company.pk}/restore/", follow=True)
    assert "domain" in text(response) and "acme.com" in text(response)
    company.refresh_from_db()
    assert company.deleted_at is not None


def test_bin_is_keyset_paginated_newest_first(users, settings):
    from rapport.web import views

    people = [person_named(f"Gone{i}", users["member"]) for i in range(4)]
    for p in people:
        services.delete_record(p, actor=users["member"], source="ui")
    old = views.BIN_PAGE
    views.BIN_PAGE = 3
    try:
        client = client_for(users["member"])
        page = text(client.get("/bin/"))
        assert page.index("Gone3") < page.index("Gone2") and "Gone0" not in page
        next_url = re.search(r'href="(\?cursor=[^"]+)" rel="next"', page).group(1)
        assert "Gone0" in text(client.get("/bin/" + next_url))
    finally:
        views.BIN_PAGE = old


# --- search and home --------------------------------------------------------------------------
def test_search_page_respects_visibility(users, person):
    person_named("Adalbert", users["outsider"])
    page = text(client_for(users["member"]).get("/search/?q=ada"))
    assert f'href="/people/{person.pk}/"' in page and "Adalbert" not in page
    live = text(client_for(users["member"]).get("/search/?q=ada&live=1"))
    assert "<mark>Ada</mark> Lovelace" in live and "<html" not in live
    assert "Nothing matches" in text(client_for(users["outsider"]).get("/search/?q=lovelace"))


def test_home_lists_recent_records_and_nav(users, person):
    page = text(client_for(users["member"]).get("/"))
    assert "Ada Lovelace" in page and 'href="/people/new/"' in page
    assert 'href="/companies/"' in page and 'href="/bin/"' in page and 'href="/settings/"' not in page
    assert 'href="/settings/"' in text(client_for(users["admin"]).get("/"))


@pytest.mark.parametrize("url", ["/", "/people/", "/bin/", "/search/?q=x"])
def test_pages_need_login(client, url, db):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
