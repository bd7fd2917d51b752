"""Merge of records (duplicates/merge.py): values chosen per field, every relation re-pointed (found
generically, and a relation nobody handles fails), history kept, the bin, undo, visibility."""

from __future__ import annotations

from typing import Any

import pytest

from rapport.activities.models import Activity
from rapport.contacts.models import Company, Person, PersonEmail
from rapport.core import registry
from rapport.core.customfields import create_field
from rapport.core.merged import history_ids
from rapport.core.models import Event, SearchEntry
from rapport.deals.models import Deal
from rapport.duplicates import merge as merging
from rapport.duplicates.models import Merge
from rapport.quotes import services as quotes
from rapport.quotes.models import Product, QuoteLine

from .conftest import write
from .test_quotes import ensure_pipeline

PEOPLE = registry.get("people")


def state(record: Any) -> dict[str, Any]:
    """A record as stored: its snapshot (values, child lists), bin state and version."""
    fresh = type(record).objects.get(pk=record.pk)
    return {**fresh.snapshot(), "deleted": fresh.deleted_at is not None, "version": fresh.version}


def deal(actor: Any, title: str, **data: Any) -> Deal:
    ensure_pipeline()
    return write("deals", {"title": title, "currency": "EUR", **data}, actor=actor)


def activity(actor: Any, subject: str, links: list[tuple[str, int]]) -> Activity:
    return write(
        "activities",
        {"kind": "note", "subject": subject, "links": [{"type": t, "id": i} for t, i in links]},
        actor=actor,
    )


@pytest.fixture
def pair(users, company):
    """Ann (the survivor, older) and her duplicate Annie, with deals, activities and a reference."""
    member = users["member"]
    create_field("people", "nickname", {"label": "Nickname", "field_type": "text"}, actor=users["admin"])
    create_field(
        "deals",
        "sponsor",
        {"label": "Sponsor", "field_type": "reference", "reference_type": "people"},
        actor=users["admin"],
    )
    ann = write(
        "people",
        {
            "first_name": "Ann",
            "last_name": "Lee",
            "emails": ["ann@acme.com"],
            "phones": [{"number": "+1 415 555 0100", "kind": "work"}],
            "company": company.pk,
            "tags": ["lead"],
        },
        actor=member,
    )
    annie = write(
        "people",
        {
            "first_name": "Annie",
            "last_name": "Lee-Smith",
            "job_title": "CTO",
            "emails": ["ann.lee@gmail.com"],
            "phones": [{"number": "+1 415 555 0199", "kind": "mobile"}],
            "tags": ["vip", "lead"],
            "custom": {"nickname": "Annie"},
        },
        actor=member,
    )
    d1 = deal(member, "Seats", contacts=[{"person": annie.pk, "role": "champion"}])
    d2 = deal(
        member,
        "Support",
        contacts=[{"person": ann.pk, "role": "decision_maker"}, {"person": annie.pk, "role": "champion"}],
    )
    d3 = deal(member, "Renewal", custom={"sponsor": annie.pk})
    x = activity(member, "Call with Annie", [("people", annie.pk), ("companies", company.pk)])
    y = activity(member, "Lunch", [("people", ann.pk), ("people", annie.pk)])
    return {"ann": ann, "annie": annie, "d1": d1, "d2": d2, "d3": d3, "x": x, "y": y, "company": company}


def test_merge_people_moves_every_link_and_takes_the_chosen_values(users, pair):
    ann, annie = pair["ann"], pair["annie"]
    merge = merging.merge_records(
        PEOPLE, ann.pk, [annie.pk], choices={"last_name": annie.pk}, actor=users["member"], source="ui"
    )
    ann = Person.objects.get(pk=ann.pk)
    assert (ann.first_name, ann.last_name, ann.job_title) == ("Ann", "Lee-Smith", "CTO")
    assert ann.company_id == pair["company"].pk
    # Emails and phones: union, the survivor's first (its primary stays primary).
    assert ann.snapshot()["emails"] == ["ann@acme.com", "ann.lee@gmail.com"]
    assert ann.primary_email == "ann@acme.com"
    assert ann.snapshot()["phones"] == ["+14155550100", "+14155550199"]
    assert ann.tags == ["lead", "vip"]
    assert ann.custom == {"nickname": "Annie"}
    # Deal contacts: Annie's rows are Ann's now; on Support, where both were, one row (Ann's role).
    assert Deal.objects.get(pk=pair["d1"].pk).snapshot()["contacts"] == [[ann.pk, "champion"]]
    assert Deal.objects.get(pk=pair["d2"].pk).snapshot()["contacts"] == [[ann.pk, "decision_maker"]]
    assert Deal.objects.get(pk=pair["d3"].pk).custom == {"sponsor": ann.pk}
    assert Activity.objects.get(pk=pair["x"].pk).snapshot()["links"] == sorted(
        [["companies", pair["company"].pk], ["people", ann.pk]]
    )
    assert Activity.objects.get(pk=pair["y"].pk).snapshot()["links"] == [["people", ann.pk]]
    # Annie is in the bin, with a merged event naming Ann; Ann has one naming Annie.
    annie = Person.objects.get(pk=annie.pk)
    assert annie.deleted_at is not None
    kinds = list(
        Event.objects.filter(type_key="people", record_id=annie.pk).order_by("id").values_list("kind", flat=True)
    )
    assert kinds == ["created", "deleted", "merged"]
    merged = Event.objects.get(type_key="people", record_id=ann.pk, kind="merged")
    assert merged.changes == {"merge": {"id": merge.pk, "records": [annie.pk]}}
    assert merged.actor == users["member"]
    # The survivor's history includes Annie's events; the merged record's address leads to Ann.
    assert history_ids("people", ann.pk) == [ann.pk, annie.pk]
    assert merging.merged_into("people", annie.pk) == ann.pk
    # Ann's search entry finds her by Annie's email.
    entry = SearchEntry.objects.get(type_key="people", record_id=ann.pk)
    assert "ann.lee@gmail.com" in entry.identifiers
    assert not SearchEntry.objects.filter(type_key="people", record_id=annie.pk).exists()
    assert merge.merged_ids == [annie.pk] and merge.survivor_version == ann.version


def test_undo_restores_values_links_and_bin_state_exactly(users, pair):
    keys = ("ann", "annie", "d1", "d2", "d3", "x", "y", "company")
    before = {k: state(pair[k]) for k in keys}
    merge = merging.merge_records(PEOPLE, pair["ann"].pk, [pair["annie"].pk], actor=users["member"], source="ui")
    merging.undo_merge(merge, actor=users["member"], source="ui")
    after = {k: state(pair[k]) for k in keys}
    for k in keys:
        b, a = dict(before[k]), dict(after[k])
        b.pop("version"), a.pop("version")
        assert a == b, k
    assert PersonEmail.objects.get(email="ann.lee@gmail.com").live is True
    assert history_ids("people", pair["ann"].pk) == [pair["ann"].pk]
    assert merging.merged_into("people", pair["annie"].pk) is None
    with pytest.raises(merging.MergeConflict, match="undone already"):
        merging.undo_merge(merge, actor=users["member"], source="ui")


def test_undo_refuses_when_the_survivor_changed_since(users, pair):
    merge = merging.merge_records(PEOPLE, pair["ann"].pk, [pair["annie"].pk], actor=users["member"], source="ui")
    write("people", {"job_title": "CEO"}, actor=users["member"], instance=Person.objects.get(pk=pair["ann"].pk))
    with pytest.raises(merging.MergeConflict, match="changed after the merge"):
        merging.undo_merge(merge, actor=users["member"], source="ui")
    assert Person.objects.get(pk=pair["annie"].pk).deleted_at is not None


def test_undo_leaves_a_relation_changed_since(users, pair):
    ann, annie = pair["ann"], pair["annie"]
    merge = merging.merge_records(PEOPLE, ann.pk, [annie.pk], actor=users["member"], source="ui")
    d1 = Deal.objects.get(pk=pair["d1"].pk)
    write("deals", {"contacts": [{"person": ann.pk, "role": "user"}]}, actor=users["member"], instance=d1)
    merging.undo_merge(merge, actor=users["member"], source="ui")
    assert Deal.objects.get(pk=d1.pk).snapshot()["contacts"] == [[ann.pk, "user"]]  # changed since: left
    assert Deal.objects.get(pk=pair["d2"].pk).snapshot()["contacts"] == [
        [ann.pk, "decision_maker"],
        [annie.pk, "champion"],
    ]


def test_the_survivor_takes_the_others_unique_email_without_a_clash(users):
    """Emails are unique among live people: the merged record goes to the bin (freeing its addresses)
    before the survivor takes them, so the merge does not fail half-way."""
    member = users["member"]
    a = write("people", {"first_name": "Bo", "emails": ["bo@x.com"]}, actor=member)
    b = write("people", {"first_name": "Bo", "emails": ["bo@y.com", "bo@x.org"]}, actor=member)
    merging.merge_records(PEOPLE, a.pk, [b.pk], choices={"emails": b.pk}, actor=member, source="ui")
    # b's list first (chosen: its primary is the primary), then a's.
    assert Person.objects.get(pk=a.pk).snapshot()["emails"] == ["bo@y.com", "bo@x.org", "bo@x.com"]
    assert Person.objects.get(pk=a.pk).primary_email == "bo@y.com"
    assert PersonEmail.objects.get(email="bo@y.com", live=True).person_id == a.pk


def test_merge_companies_moves_people_deals_children_and_takes_a_unique_domain(users):
    member = users["member"]
    holding = write("companies", {"name": "Holding"}, actor=member)
    acme = write("companies", {"name": "Acme"}, actor=member)
    acme2 = write("companies", {"name": "ACME Inc", "domain": "acme.com", "parent": holding.pk}, actor=member)
    branch = write("companies", {"name": "Acme Paris", "parent": acme2.pk}, actor=member)
    person = write("people", {"first_name": "Cy", "company": acme2.pk}, actor=member)
    d = deal(member, "Seats", company=acme2.pk)
    merging.merge_records(registry.get("companies"), acme.pk, [acme2.pk], actor=member, source="ui")
    acme = Company.objects.get(pk=acme.pk)
    assert (acme.name, acme.domain, acme.parent_id) == ("Acme", "acme.com", holding.pk)
    assert Company.objects.get(pk=branch.pk).parent_id == acme.pk
    assert Person.objects.get(pk=person.pk).company_id == acme.pk
    assert Deal.objects.get(pk=d.pk).company_id == acme.pk
    assert Company.objects.get(pk=acme2.pk).deleted_at is not None


def test_a_parent_among_the_merged_records_is_dropped(users):
    member = users["member"]
    parent = write("companies", {"name": "Acme"}, actor=member)
    child = write("companies", {"name": "Acme", "parent": parent.pk}, actor=member)
    merging.merge_records(registry.get("companies"), child.pk, [parent.pk], actor=member, source="ui")
    assert Company.objects.get(pk=child.pk).parent_id is None


def test_merge_products_moves_line_items_and_quote_lines(users, company):
    admin = users["admin"]
    p1 = write("products", {"name": "Seat", "prices": [{"currency": "USD", "unit_price": "10.00"}]}, actor=admin)
    p2 = write(
        "products",
        {
            "name": "Seat (old)",
            "sku": "S-2",
            "prices": [{"currency": "USD", "unit_price": "12.00"}, {"currency": "EUR", "unit_price": "11.00"}],
        },
        actor=admin,
    )
    d = deal(
        admin,
        "Seats",
        company=company.pk,
        line_items=[{"product": p2.pk, "name": "Seat", "quantity": "2", "unit_price": "11.00"}],
    )
    quote = quotes.create_quote_from_deal(d, actor=admin, source="system")
    merge = merging.merge_records(registry.get("products"), p1.pk, [p2.pk], actor=admin, source="ui")
    assert Deal.objects.get(pk=d.pk).snapshot()["line_items"] == [[p1.pk, "Seat", "2", "11.00", "0", "0"]]
    assert list(QuoteLine.objects.filter(quote=quote).values_list("product_id", flat=True)) == [p1.pk]
    p1 = Product.objects.get(pk=p1.pk)
    assert p1.snapshot()["prices"] == {"EUR": "11.00", "USD": "10.00"}
    assert p1.sku == "S-2"
    merging.undo_merge(merge, actor=admin, source="ui")
    assert list(QuoteLine.objects.filter(quote=quote).values_list("product_id", flat=True)) == [p2.pk]
    assert Deal.objects.get(pk=d.pk).snapshot()["line_items"][0][0] == p2.pk
    assert Product.objects.get(pk=p1.pk).snapshot()["prices"] == {"USD": "10.00"}


def test_merge_deals_moves_quotes_and_keeps_its_attached_search(users, company):
    member = users["member"]
    d1 = deal(member, "Seats")
    d2 = deal(member, "Seats 2", line_items=[{"name": "Seat", "quantity": "1", "unit_price": "5.00"}])
    quote = quotes.create_quote_from_deal(d2, actor=member, source="system")
    merge = merging.merge_records(registry.get("deals"), d1.pk, [d2.pk], actor=member, source="ui")
    quote.refresh_from_db()
    assert quote.deal_id == d1.pk
    assert Deal.objects.get(pk=d1.pk).snapshot()["line_items"] == [[None, "Seat", "1", "5.00", "0", "0"]]
    merging.undo_merge(merge, actor=member, source="ui")
    quote.refresh_from_db()
    assert quote.deal_id == d2.pk


# --- visibility --------------------------------------------------------------------------------
def test_another_team_cannot_merge_or_learn_about_records(users, pair):
    with pytest.raises(merging.NoSuchRecord, match=f"There is no person #{pair['ann'].pk}"):
        merging.merge_records(PEOPLE, pair["ann"].pk, [pair["annie"].pk], actor=users["outsider"], source="ui")
    # Read-only users may not change: the same answer as a missing id.
    with pytest.raises(merging.NoSuchRecord, match=f"There is no person #{pair['ann'].pk}"):
        merging.merge_records(PEOPLE, pair["ann"].pk, [pair["annie"].pk], actor=users["read-only"], source="ui")
    with pytest.raises(merging.NoSuchRecord, match="There is no person #999999"):
        merging.merge_records(PEOPLE, pair["ann"].pk, [999999], actor=users["member"], source="ui")
    assert not Merge.objects.exists()


def test_links_of_records_the_actor_cannot_see_move_too(users, pair):
    ann, annie = pair["ann"], pair["annie"]
    hidden = deal(users["outsider"], "West deal", contacts=[{"person": annie.pk, "role": "user"}])
    merge = merging.merge_records(PEOPLE, ann.pk, [annie.pk], actor=users["member"], source="ui")
    assert Deal.objects.get(pk=hidden.pk).snapshot()["contacts"] == [[ann.pk, "user"]]
    assert any(m.get("id") == hidden.pk for m in merge.moves)
    merging.undo_merge(merge, actor=users["member"], source="ui")
    assert Deal.objects.get(pk=hidden.pk).snapshot()["contacts"] == [[annie.pk, "user"]]


def test_bad_input_names_the_field(users, pair):
    ann, annie = pair["ann"].pk, pair["annie"].pk
    cases = [
        ((ann, [ann]), {}, "others"),
        ((ann, []), {}, "others"),
        ((ann, [annie, 5, 6, 7, 8]), {}, "others"),
        ((ann, [annie]), {"choices": {"nope": ann}}, "fields.nope"),
        ((ann, [annie]), {"choices": {"last_name": 12345}}, "fields.last_name"),
    ]
    for (s, o), kw, field in cases:
        with pytest.raises(merging.MergeError) as exc:
            merging.merge_records(PEOPLE, s, o, actor=users["member"], source="ui", **kw)
        assert exc.value.field == field


# --- every relation, for every type --------------------------------------------------------------
def test_every_relation_to_every_registered_type_is_handled():
    for rtype in registry.all_types():
        assert merging.unhandled(rtype.model) == [], rtype.key
        for key in rtype.model.related_write_keys:
            assert f"{rtype.model._meta.label}.{key}" in merging.CHILD_LISTS


def test_a_relation_nobody_handles_fails(users, pair, monkeypatch):
    relations = dict(merging.RELATIONS)
    relations.pop("deals.DealContact.person")
    monkeypatch.setattr(merging, "RELATIONS", relations)
    assert merging.unhandled(Person) == ["deals.DealContact.person"]
    with pytest.raises(merging.MergeError, match="deals.DealContact.person is not handled"):
        merging.merge_records(PEOPLE, pair["ann"].pk, [pair["annie"].pk], actor=users["member"], source="ui")


def _example(rtype: Any, n: int) -> dict[str, Any]:
    data = dict(rtype.example)
    if "emails" in data:
        data["emails"] = [f"someone{n}@example.com"]
    if "website" in data:
        data["website"] = f"https://c{n}.example.com"
    if "sku" in data:
        data["sku"] = f"SKU-{n}"
    return data


@pytest.mark.parametrize("type_key", ["companies", "people", "deals", "activities", "products"])
def test_merging_any_type_moves_every_link_to_it(users, type_key):
    """For a registered type: every foreign key of a registered type to it, an activity link and a
    reference custom field point at the merged record before, at the survivor after."""
    admin = users["admin"]
    ensure_pipeline()
    rtype = registry.get(type_key)
    survivor = write(type_key, _example(rtype, 1), actor=admin)
    other = write(type_key, _example(rtype, 2), actor=admin)
    create_field(
        "companies", "ref", {"label": "Ref", "field_type": "reference", "reference_type": type_key}, actor=admin
    )
    holders = [write("companies", {"name": "Holder", "custom": {"ref": other.pk}}, actor=admin)]
    links = []
    for rel in merging.relations_to(rtype.model):
        if rel.kind == merging.LINK and rel.model is not rtype.model:
            holder_type = registry.for_model(rel.model)
            h = write(
                holder_type.key, {**_example(holder_type, 10 + len(links)), rel.field.name: other.pk}, actor=admin
            )
            links.append((h, rel.field.attname))
    noted = None
    if type_key != "activities":
        noted = activity(admin, "About it", [(type_key, other.pk)])
    merging.merge_records(rtype, survivor.pk, [other.pk], actor=admin, source="ui")
    for h in holders:
        assert Company.objects.get(pk=h.pk).custom == {"ref": survivor.pk}
    for h, attname in links:
        assert getattr(type(h).objects.get(pk=h.pk), attname) == survivor.pk
    if noted is not None:
        assert Activity.objects.get(pk=noted.pk).snapshot()["links"] == [[type_key, survivor.pk]]
    assert rtype.model.objects.get(pk=other.pk).deleted_at is not None


def test_mail_links_move_to_the_survivor_once_and_undo_puts_them_back(users, pair):
    """A message to both Ann and Annie links the survivor once after the merge (the repeated row is
    dropped); a message to Annie alone moves to Ann; undo gives each message back exactly its people."""
    from rapport.mail.models import Mailbox, Message, Thread

    box = Mailbox.objects.create(name="Sales", address="sales@example.com", imap_host="127.0.0.1", username="sales")
    thread = Thread.objects.create(mailbox=box, subject="Hello")
    both = Message.objects.create(mailbox=box, thread=thread, message_id="a@x")
    only = Message.objects.create(mailbox=box, thread=thread, message_id="b@x")
    ann, annie = pair["ann"], pair["annie"]
    both.people.set([ann, annie])
    only.people.set([annie])
    thread.deals.set([pair["d1"]])

    merge = merging.merge_records(PEOPLE, ann.pk, [annie.pk], actor=users["member"], source="ui")
    assert list(both.people.values_list("pk", flat=True)) == [ann.pk]
    assert list(only.people.values_list("pk", flat=True)) == [ann.pk]
    assert list(thread.deals.values_list("pk", flat=True)) == [pair["d1"].pk]  # deals were not merged

    merging.undo_merge(merge, actor=users["member"], source="ui")
    assert sorted(both.people.values_list("pk", flat=True)) == sorted([ann.pk, annie.pk])
    assert list(only.people.values_list("pk", flat=True)) == [annie.pk]
