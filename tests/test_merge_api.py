"""The merge API: POST /api/v1/<type>/merge/, GET /api/v1/merges/<id>/, POST …/undo/ (answers
validated against the schema by the suite)."""

from __future__ import annotations

import json

from rapport.contacts.models import Person

from .conftest import write


def post(client, url, body=None, **headers):
    return client.post(url, json.dumps(body or {}), content_type="application/json", **headers)


def test_merge_and_undo_through_the_api(users, api_client_for):
    member = users["member"]
    a = write("people", {"first_name": "Ann", "last_name": "Lee", "emails": ["ann@acme.com"]}, actor=member)
    b = write("people", {"first_name": "Ann", "last_name": "Lee-Smith", "emails": ["ann@x.com"]}, actor=member)
    client = api_client_for(member)
    r = post(client, "/api/v1/people/merge/", {"survivor": a.pk, "others": [b.pk], "fields": {"last_name": b.pk}})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["record"]["last_name"] == "Lee-Smith"
    assert [e["email"] for e in body["record"]["emails"]] == ["ann@acme.com", "ann@x.com"]
    assert body["merge"]["survivor"] == a.pk and body["merge"]["merged"] == [b.pk]
    assert body["merge"]["fields"] == {"last_name": b.pk}
    assert r["ETag"] == f'"{a.pk}-2"'  # created (1), updated by the merge (2); merged events bump nothing
    merge_id = body["merge"]["id"]
    assert client.get(f"/api/v1/merges/{merge_id}/").json()["undone_at"] is None
    gone = client.get(f"/api/v1/people/{b.pk}/")  # in the bin, with a hint to whoever sees both
    assert gone.status_code == 404
    assert gone.json()["message"] == f"This person was merged into #{a.pk}: /api/v1/people/{a.pk}/"
    assert "merged" not in api_client_for(users["outsider"]).get(f"/api/v1/people/{b.pk}/").json()["message"]
    r = post(client, f"/api/v1/merges/{merge_id}/undo/")
    assert r.status_code == 200 and r.json()["undone_at"] is not None
    assert Person.objects.get(pk=a.pk).last_name == "Lee"
    r = post(client, f"/api/v1/merges/{merge_id}/undo/")
    assert r.status_code == 409 and r.json()["error"] == "conflict"


def test_merge_errors_name_the_field_and_hide_other_teams(users, api_client_for):
    member = users["member"]
    a = write("people", {"first_name": "Ann"}, actor=member)
    b = write("people", {"first_name": "Ann"}, actor=member)
    hidden = write("people", {"first_name": "West"}, actor=users["outsider"])
    client = api_client_for(member)
    r = post(client, "/api/v1/people/merge/", {"survivor": a.pk, "others": []})
    assert r.status_code == 400 and "others" in r.json()["fields"]
    r = post(client, "/api/v1/people/merge/", {"survivor": a.pk, "others": [b.pk], "fields": {"colour": a.pk}})
    assert r.status_code == 400 and list(r.json()["fields"]) == ["fields.colour"]
    r = post(client, "/api/v1/people/merge/", {"survivor": a.pk, "others": [hidden.pk]})
    missing = post(client, "/api/v1/people/merge/", {"survivor": a.pk, "others": [987654]})
    assert r.status_code == missing.status_code == 404
    assert r.json()["message"] == f"There is no person #{hidden.pk}."
    # the outsider cannot read the merge either
    merge = post(client, "/api/v1/people/merge/", {"survivor": a.pk, "others": [b.pk]}).json()["merge"]
    outsider = api_client_for(users["outsider"])
    assert outsider.get(f"/api/v1/merges/{merge['id']}/").status_code == 404
    assert post(outsider, f"/api/v1/merges/{merge['id']}/undo/").status_code == 404


def test_a_stale_if_match_is_refused(users, api_client_for):
    member = users["member"]
    a = write("people", {"first_name": "Ann"}, actor=member)
    b = write("people", {"first_name": "Ann"}, actor=member)
    client = api_client_for(member)
    r = post(client, "/api/v1/people/merge/", {"survivor": a.pk, "others": [b.pk]}, HTTP_IF_MATCH=f'"{a.pk}-7"')
    assert r.status_code == 412 and r["ETag"] == f'"{a.pk}-1"'
    r = post(client, "/api/v1/people/merge/", {"survivor": a.pk, "others": [b.pk]}, HTTP_IF_MATCH=f'"{a.pk}-1"')
    assert r.status_code == 200
