"""Every link field of every form is the one type-ahead picker: no raw id box anywhere, existing values
shown by name (``#id`` to a viewer who may not see the record), the server still the judge of links."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework import serializers

from rapport.activities.models import Activity
from rapport.core import registry
from rapport.core.models import CustomField
from rapport.core.serializers import RecordLinkField
from rapport.deals.models import Deal

from .conftest import write


def client_for(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def picker_shows(page: str, name: str, value: Any, label: str) -> bool:
    """A one-link picker posting ``value`` under ``name`` and showing ``label`` in its box."""
    pattern = rf'name="{name}" value="{value}" data-picker-value>\s*<input[^>]*value="{re.escape(label)}"'
    return re.search(pattern, page) is not None


def link_fields(type_key: str) -> list[str]:
    """The form names of a type's link fields: to records, to users, and rows of links."""
    rtype = registry.get(type_key)
    names = []
    for name, f in rtype.get_serializer_class()().fields.items():
        if f.read_only or name in rtype.form_exclude:
            continue
        if isinstance(f, serializers.ListSerializer):
            child: Any = f.child
            if any(isinstance(c, RecordLinkField) for c in child.fields.values()) or getattr(
                child, "any_record_link", False
            ):
                names.append(name)
        elif isinstance(f, serializers.PrimaryKeyRelatedField):
            target = f.queryset.model if f.queryset is not None else None
            if target is get_user_model() or getattr(target, "record_type_key", None):
                names.append(name)
    return names


@pytest.mark.parametrize("type_key", registry.keys())
def test_every_link_field_of_every_form_is_a_picker(type_key, users, db):
    CustomField.objects.create(record_type=type_key, key="buddy", label="Buddy", field_type="user")
    CustomField.objects.create(
        record_type=type_key, key="ref", label="Ref", field_type="reference", reference_type="companies"
    )
    page = client_for(users["admin"]).get(f"/{type_key}/new/").content.decode()
    names = [*link_fields(type_key), "cf_buddy", "cf_ref"]
    assert "owner" in names
    for name in names:
        # a combobox labelled by the field's label, a listbox, no text box or select carrying the id
        assert re.search(rf'<input type="text" id="id_{name}" class="picker-input" role="combobox"', page), name
        assert f'id="id_{name}-options" role="listbox"' in page, name
        assert not re.search(rf'<(select|textarea)[^>]*name="{name}"', page), name
        assert not re.search(rf'<input type="(text|number)"[^>]*name="{name}(_id)?"', page), name
        assert f'<label for="id_{name}">' in page, name


def test_existing_links_show_names_or_an_id_to_who_may_not_see_them(users, company, person):
    theirs = write("people", {"first_name": "Olga", "last_name": "Secret"}, actor=users["outsider"])
    deal = write(
        "deals",
        {
            "title": "Shared",
            "company": company.pk,
            "contacts": [{"person": person.pk, "role": "champion"}, {"person": theirs.pk}],
        },
        actor=users["member"],
    )
    c = client_for(users["member"])
    page = c.get(f"/deals/{deal.pk}/edit/").content.decode()
    assert 'value="Acme" data-label="Acme"' in page  # the company by name
    chips = re.findall(r'<li class="link-chip" data-chip data-key="people:(\d+)">(.*?)</li>', page, re.S)
    assert [key for key, _ in chips] == [str(person.pk), str(theirs.pk)]
    assert ">Ada Lovelace</span>" in chips[0][1] and 'aria-label="Role of Ada Lovelace"' in chips[0][1]
    assert f">#{theirs.pk}</span>" in chips[1][1] and "Olga" not in page and "Secret" not in page
    assert re.search(r'<option value="champion" selected>', chips[0][1])
    # the owner is a user picker showing the owner's name
    assert picker_shows(page, "owner", users["member"].pk, "Member")

    # saved back unchanged, the hidden contact stays (a link the record has may be sent back)
    form = {"title": "Shared", "version": "1", "contacts": [str(person.pk), str(theirs.pk)]}
    form["contacts_role"] = ["champion", "other"]
    assert c.post(f"/deals/{deal.pk}/edit/", form).status_code == 302
    assert set(Deal.objects.get().deal_contacts.values_list("person_id", flat=True)) == {person.pk, theirs.pk}


def test_the_server_still_judges_links_and_says_so_on_the_chip(users, company, person):
    theirs = write("people", {"first_name": "Olga", "last_name": "Secret"}, actor=users["outsider"])
    c = client_for(users["member"])
    response = c.post(
        "/deals/new/",
        {"title": "Sneaky", "contacts": [str(person.pk), str(theirs.pk)], "contacts_role": ["user", "user"]},
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert f"There is no person #{theirs.pk}." in page and "Olga" not in page
    assert "Incorrect type" not in page and "pk value" not in page
    # the form comes back with both chips, the refused one marked
    assert f'<li class="link-chip has-error" data-chip data-key="people:{theirs.pk}">' in page
    assert not Deal.objects.exists()


def test_an_activity_links_records_of_any_type_as_chips(users, company, person):
    deal = write("deals", {"title": "Acme seats"}, actor=users["member"])
    c = client_for(users["member"])
    page = c.get("/activities/new/").content.decode()
    assert re.search(r'data-picker data-multiple data-type="([^"]*)"', page).group(1).split(",") == [
        k for k in registry.keys() if k != "activities"
    ]
    response = c.post(
        "/activities/new/",
        {
            "kind": "task",
            "subject": "Call Ada",
            "links": ["people", "deals"],
            "links_id": [str(person.pk), str(deal.pk)],
            "assignee": str(users["peer"].pk),
            "owner": str(users["member"].pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    activity = Activity.objects.get()
    assert {(link.type_key, link.record_id) for link in activity.links.all()} == {
        ("people", person.pk),
        ("deals", deal.pk),
    }
    assert activity.assignee == users["peer"]
    edit = c.get(f"/activities/{activity.pk}/edit/").content.decode()
    assert re.search(r'<span class="muted">Person ·</span> Ada Lovelace</span>', edit)
    assert re.search(r'<span class="muted">Deal ·</span> Acme seats</span>', edit)
    assert f'data-key="people:{person.pk}"' in edit and f'data-key="deals:{deal.pk}"' in edit
    assert picker_shows(edit, "assignee", users["peer"].pk, "Peer")


def test_a_custom_reference_field_shows_its_record_by_name(users, company):
    CustomField.objects.create(
        record_type="people", key="partner", label="Partner", field_type="reference", reference_type="companies"
    )
    CustomField.objects.create(record_type="people", key="buddy", label="Buddy", field_type="user")
    person = write(
        "people",
        {"first_name": "Ada", "custom": {"partner": company.pk, "buddy": users["peer"].pk}},
        actor=users["member"],
    )
    page = client_for(users["member"]).get(f"/people/{person.pk}/edit/").content.decode()
    assert picker_shows(page, "cf_partner", company.pk, "Acme")
    assert picker_shows(page, "cf_buddy", users["peer"].pk, "Peer")
    # a company of another team is shown to this viewer by its id only
    theirs = write("companies", {"name": "Westco"}, actor=users["outsider"])
    write("people", {"custom": {"partner": theirs.pk}}, actor=users["member"], instance=person)
    page = client_for(users["member"]).get(f"/people/{person.pk}/edit/").content.decode()
    assert picker_shows(page, "cf_partner", theirs.pk, f"#{theirs.pk}") and "Westco" not in page


def test_the_quick_forms_assignee_is_a_user_picker(users, company):
    page = client_for(users["member"]).get(f"/companies/{company.pk}/quicklog/task/").content.decode()
    assert picker_shows(page, "assignee", users["member"].pk, "Member")
    assert '<input type="text" id="ql-assignee" class="picker-input" role="combobox"' in page


def test_the_lists_bulk_owner_is_a_user_picker(users, person):
    page = client_for(users["member"]).get("/people/").content.decode()
    bulk = page[page.index('id="bulk-form"') :]
    bulk = bulk[: bulk.index("</form>")]
    assert '<label for="bulk-owner" class="visually-hidden">New owner</label>' in bulk
    assert '<input type="text" id="bulk-owner" class="picker-input" role="combobox"' in bulk
    assert 'data-picker data-type="users">' in bulk and not re.search(r'<select[^>]*name="owner"', bulk)


def test_a_row_error_names_the_field_in_words(users, person):
    c = client_for(users["member"])
    response = c.post("/activities/new/", {"kind": "task", "subject": "Call", "links": ["people"], "links_id": [""]})
    page = response.content.decode()
    assert response.status_code == 400 and "This field" not in page
    chip = re.search(r'<li class="link-chip has-error" data-chip[^>]*>(.*?)</ul>', page, re.S)
    assert chip and "<li>Choose a record.</li>" in chip.group(1)


def test_a_pickers_error_is_tied_to_its_box(users, person):
    theirs = write("companies", {"name": "Westco"}, actor=users["outsider"])
    page = client_for(users["member"]).post("/people/new/", {"first_name": "Bo", "company": str(theirs.pk)})
    html = page.content.decode()
    assert page.status_code == 400 and f"There is no company #{theirs.pk}." in html and "Westco" not in html
    box = re.search(r'<input type="text" id="id_company" class="picker-input"[^>]*>', html).group(0)
    assert 'aria-describedby="err_company" aria-invalid="true"' in box
    assert '<ul class="errorlist" id="err_company">' in html
