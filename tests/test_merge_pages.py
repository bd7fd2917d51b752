"""The merge pages: compare, review, merge, undo; the merged record's address; the bulk action."""

from __future__ import annotations

from typing import Any

from django.test import Client

from rapport.contacts.models import Person
from rapport.duplicates.models import Merge

from .conftest import write
from .test_merge import activity, deal


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def two_people(users: Any) -> tuple[Person, Person]:
    member = users["member"]
    ann = write(
        "people", {"first_name": "Ann", "last_name": "Lee", "emails": ["ann@acme.com"], "job_title": ""}, actor=member
    )
    annie = write(
        "people",
        {"first_name": "Ann", "last_name": "Lee-Smith", "emails": ["ann@x.com"], "job_title": "CTO"},
        actor=member,
    )
    return ann, annie


def test_compare_review_merge_and_undo(users, company):
    member = users["member"]
    ann, annie = two_people(users)
    deal(member, "Seats", contacts=[{"person": annie.pk, "role": "champion"}])
    for n in range(2):
        activity(member, f"Call {n}", [("people", annie.pk)])
    client = client_for(member)
    url = f"/duplicates/merge/people/?ids={ann.pk},{annie.pk}"
    page = client.get(url).content.decode()
    # one column per record, a radio only where values differ, defaults: the survivor's or the first
    assert f'name="survivor" value="{ann.pk}" checked' in page
    assert f'name="f_last_name" value="{ann.pk}" checked' in page
    assert f'name="f_job_title" value="{annie.pk}" checked' in page
    assert 'name="f_first_name"' not in page  # the same in both
    assert "All are kept; the chosen record&#x27;s come first." in page
    assert '<th scope="row">Deals</th><td>0</td><td>1</td>' in page
    assert '<th scope="row">Activities</th><td>0</td><td>2</td>' in page
    ids = f"{ann.pk},{annie.pk}"
    review = client.post(
        "/duplicates/merge/people/",
        {"ids": ids, "survivor": ann.pk, "step": "review", "f_last_name": annie.pk, "f_job_title": annie.pk},
    ).content.decode()
    assert "goes to the recycle bin, and 1 deal and 2 activities will move to Ann Lee." in review
    assert "<dt>Last name</dt><dd>Lee-Smith</dd>" in review
    assert "<dt>Emails</dt><dd>ann@acme.com; ann@x.com</dd>" in review
    done = client.post(
        "/duplicates/merge/people/",
        {"ids": ids, "survivor": ann.pk, "step": "merge", "f_last_name": annie.pk},
        follow=True,
    )
    assert done.redirect_chain[-1][0] == f"/people/{ann.pk}/"
    body = done.content.decode()
    merge = Merge.objects.get()
    assert "Merged 1 person into this one." in body
    assert f'action="/duplicates/merges/{merge.pk}/undo/"' in body
    changes = client.get(f"/people/{ann.pk}/timeline/?kind=changes").content.decode()
    assert f'href="/duplicates/merges/{merge.pk}/">See the merge or undo it' in changes  # its timeline entry
    timeline = client.get(f"/people/{ann.pk}/timeline/").content.decode()
    assert "Call 0" in timeline and "Call 1" in timeline  # the merged record's activities on the survivor's
    # the merge on the survivor, and on the merged record (whose history shows here too)
    assert timeline.count('<span class="event-kind">merged</span>') == 2
    assert Person.objects.get(pk=ann.pk).last_name == "Lee-Smith"
    # the merged record's address leads to the survivor
    moved = client.get(f"/people/{annie.pk}/")
    assert moved.status_code == 302 and moved["Location"] == f"/people/{ann.pk}/"
    assert client.get(f"/duplicates/merges/{merge.pk}/").status_code == 200
    undone = client.post(f"/duplicates/merges/{merge.pk}/undo/", follow=True)
    assert "Merge undone: 1 person restored." in undone.content.decode()
    assert Person.objects.get(pk=ann.pk).last_name == "Lee"
    assert client.get(f"/people/{annie.pk}/").status_code == 200


def test_the_compare_page_hides_and_refuses(users):
    ann, annie = two_people(users)
    west = write("people", {"first_name": "Ann"}, actor=users["outsider"])
    assert client_for(users["outsider"]).get(f"/duplicates/merge/people/?ids={ann.pk},{annie.pk}").status_code == 404
    member = client_for(users["member"])
    assert member.get(f"/duplicates/merge/people/?ids={ann.pk},{west.pk}").status_code == 404
    assert member.get(f"/duplicates/merge/people/?ids={ann.pk}").status_code == 404
    assert member.get("/duplicates/merge/people/?ids=1,x").status_code == 404
    assert client_for(users["read-only"]).get(f"/duplicates/merge/people/?ids={ann.pk},{annie.pk}").status_code == 404
    peer = write("people", {"first_name": "Ann"}, actor=users["peer"])  # the member may not delete it
    assert member.get(f"/duplicates/merge/people/?ids={ann.pk},{peer.pk}").status_code == 403


def test_compare_page_query_count_is_pinned(users, company, django_assert_num_queries):
    member = users["member"]
    people = [
        write("people", {"first_name": "Ann", "last_name": f"L{n}", "company": company.pk}, actor=member)
        for n in range(5)
    ]
    client = client_for(member)
    url = "/duplicates/merge/people/?ids=" + ",".join(str(p.pk) for p in people)
    client.get(url)
    # session, user, role, the records, their emails, their phones, custom field definitions, owner
    # names, company names, deal-contact counts, activity counts: 11, the same for 2 or 5 records
    with django_assert_num_queries(11):
        assert client.get(url).status_code == 200


def test_bulk_action_opens_the_merge_page(users):
    ann, annie = two_people(users)
    client = client_for(users["member"])
    listing = client.get("/people/").content.decode()
    assert '<option value="merge">' in listing
    r = client.post("/people/bulk/", {"action": "merge", "ids": [ann.pk, annie.pk]})
    assert r.status_code == 302 and r["Location"] == f"/duplicates/merge/people/?ids={ann.pk},{annie.pk}"
    r = client.post("/people/bulk/", {"action": "merge", "ids": [ann.pk]}, follow=True)
    assert "Select 2 to 5 rows to merge." in r.content.decode()
    assert '<option value="merge">' not in client_for(users["read-only"]).get("/people/").content.decode()


def test_every_type_compares_reviews_and_merges_from_its_page(users):
    """The pages work for every registered type (their values, child lists and related counts)."""
    from rapport.core import registry

    from .test_merge import _example
    from .test_quotes import ensure_pipeline

    admin = users["admin"]
    ensure_pipeline()
    client = client_for(admin)
    for n, rtype in enumerate(registry.all_types()):
        a = write(rtype.key, _example(rtype, 100 + 2 * n), actor=admin)
        b = write(rtype.key, _example(rtype, 101 + 2 * n), actor=admin)
        ids = f"{a.pk},{b.pk}"
        assert client.get(f"/duplicates/merge/{rtype.key}/?ids={ids}").status_code == 200, rtype.key
        review = client.post(f"/duplicates/merge/{rtype.key}/", {"ids": ids, "survivor": b.pk, "step": "review"})
        assert "goes to the recycle bin" in review.content.decode(), rtype.key
        done = client.post(f"/duplicates/merge/{rtype.key}/", {"ids": ids, "survivor": b.pk, "step": "merge"})
        assert done.status_code == 302 and done["Location"] == f"/{rtype.key}/{b.pk}/", rtype.key
        assert rtype.model.objects.get(pk=a.pk).deleted_at is not None


def test_merges_list_shows_visible_merges_newest_first(users, django_assert_num_queries):
    member = users["member"]
    ann, annie = two_people(users)
    from rapport.core import registry
    from rapport.duplicates.merge import merge_records

    first = merge_records(registry.get("people"), ann.pk, [annie.pk], actor=member, source="ui")
    c1 = write("companies", {"name": "Acme"}, actor=member)
    c2 = write("companies", {"name": "Acme"}, actor=member)
    second = merge_records(registry.get("companies"), c1.pk, [c2.pk], actor=member, source="ui")
    client = client_for(member)
    client.get("/duplicates/merges/")
    # session, user, role, the keyset page of merges (ids, then the rows with their actors), survivor
    # names (people, companies): 7 whatever the number of merges
    with django_assert_num_queries(7):
        page = client.get("/duplicates/merges/").content.decode()
    assert page.index(f'href="/duplicates/merges/{second.pk}/"') < page.index(f'href="/duplicates/merges/{first.pk}/"')
    outsider = client_for(users["outsider"]).get("/duplicates/merges/").content.decode()
    assert "No merges yet." in outsider
