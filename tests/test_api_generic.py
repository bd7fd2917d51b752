"""The generic API suite: walks the registry and checks every type on every path, for every role.

A new record type is covered here the day it is registered (its RecordType.example is the valid
payload these tests write).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from rapport.core import registry
from rapport.core.models import CustomField, Event

from .conftest import write

# Every type team-scoped here, products too (see conftest.team_scoped_catalogue).
pytestmark = pytest.mark.usefixtures("team_scoped_catalogue")

TYPES = registry.keys()


def post(client: Client, url: str, data: Any, **extra: Any) -> Any:
    return client.post(url, json.dumps(data), content_type="application/json", **extra)


def patch(client: Client, url: str, data: Any, **extra: Any) -> Any:
    return client.patch(url, json.dumps(data), content_type="application/json", **extra)


def example(type_key: str, n: int = 0) -> dict[str, Any]:
    """The type's example payload made unique by ``n`` (emails and domains must not clash)."""
    data = json.loads(json.dumps(registry.get(type_key).example))

    def bump(value: Any, key: str = "") -> Any:
        if isinstance(value, str) and ("@" in value or value.startswith("https://")):
            return value.replace("example", f"example{n}")
        if isinstance(value, str) and key in ("sku", "domain"):  # unique among live records
            return f"{value}-{n}"
        if isinstance(value, dict):
            return {k: bump(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [bump(v) for v in value]
        return value

    data = bump(data)
    if isinstance(data.get("number"), str):  # an invoice's number: unique among live records
        data["number"] = f"{data['number']}-{n}"
    return data


def make(type_key: str, actor: Any, n: int = 0) -> Any:
    return write(type_key, example(type_key, n), actor=actor)


@pytest.mark.parametrize("type_key", TYPES)
def test_every_type_has_an_example(type_key):
    assert registry.get(type_key).example, f"{type_key} needs RecordType.example for docs and tests"


@pytest.mark.parametrize("type_key", TYPES)
def test_full_lifecycle_through_the_api(type_key, users, api_client_for):
    client = api_client_for(users["member"])
    base = f"/api/v1/{type_key}/"
    created = post(client, base, example(type_key, 1))
    assert created.status_code == 201, created.content
    body = created.json()
    rid = body["id"]
    assert body["owner"]["id"] == users["member"].id
    assert created["ETag"] == f'"{rid}-1"'

    listed = client.get(base)
    assert listed.status_code == 200
    assert rid in [row["id"] for row in listed.json()["results"]]

    got = client.get(f"{base}{rid}/")
    assert got.status_code == 200 and got.json()["id"] == rid

    changed = patch(client, f"{base}{rid}/", {"notes": "Met at the fair"}, HTTP_IF_MATCH=got["ETag"])
    assert changed.status_code == 200, changed.content
    assert changed.json()["notes"] == "Met at the fair" and changed.json()["version"] == 2

    history = client.get(f"{base}{rid}/history/").json()["results"]
    assert [e["kind"] for e in history] == ["updated", "created"]
    assert history[0]["changes"] == [{"field": "notes", "before": "", "after": "Met at the fair"}]
    assert history[0]["source"] == "api" and history[0]["actor"]["id"] == users["member"].id

    # The member role may delete only their own records; this one is theirs.
    assert client.delete(f"{base}{rid}/").status_code == 204
    assert client.get(f"{base}{rid}/").status_code == 404
    assert rid not in [row["id"] for row in client.get(base).json()["results"]]
    restored = client.post(f"{base}{rid}/restore/")
    assert restored.status_code == 200, restored.content
    assert client.get(f"{base}{rid}/").status_code == 200
    kinds = list(Event.objects.filter(type_key=type_key, record_id=rid).order_by("id").values_list("kind", flat=True))
    assert kinds == ["created", "updated", "deleted", "restored"]


@pytest.mark.parametrize("type_key", TYPES)
def test_stale_if_match_gets_412_and_overwrites_nothing(type_key, users, api_client_for):
    record = make(type_key, users["member"])
    client = api_client_for(users["member"])
    url = f"/api/v1/{type_key}/{record.pk}/"
    etag = client.get(url)["ETag"]
    assert patch(client, url, {"notes": "first"}, HTTP_IF_MATCH=etag).status_code == 200
    stale = patch(client, url, {"notes": "second"}, HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert stale.json()["error"] == "stale"
    assert client.get(url).json()["notes"] == "first"
    assert client.delete(url, HTTP_IF_MATCH=etag).status_code == 412
    assert client.get(url).status_code == 200


ROLE_EXPECTATIONS = {
    # role: (sees a teammate's record, may create, may change teammate's record, may delete teammate's)
    "admin": (True, True, True, True),
    "manager": (True, True, True, True),
    "member": (True, True, True, False),
    "read-only": (True, False, False, False),
    "outsider": (False, True, False, False),
}


@pytest.mark.parametrize("type_key", TYPES)
@pytest.mark.parametrize("role", list(ROLE_EXPECTATIONS))
def test_role_scopes_on_every_path(type_key, role, users, api_client_for):
    sees, may_create, may_change, may_delete = ROLE_EXPECTATIONS[role]
    record = make(type_key, users["peer"])  # owned by a member of team East
    client = api_client_for(users[role])
    base = f"/api/v1/{type_key}/"
    url = f"{base}{record.pk}/"

    ids = [row["id"] for row in client.get(base).json()["results"]]
    assert (record.pk in ids) is sees
    assert client.get(url).status_code == (200 if sees else 404)
    assert client.get(f"{url}history/").status_code == (200 if sees else 404)
    title = str(record).split()[0]
    found = {(h["type"], h["id"]) for h in client.get("/api/v1/search/", {"q": title}).json()["results"]}
    assert ((type_key, record.pk) in found) is sees

    created = post(client, base, example(type_key, 7))
    assert created.status_code == (201 if may_create else 403), created.content

    changed = patch(client, url, {"notes": f"by {role}"})
    assert changed.status_code == (200 if may_change else (403 if sees else 404)), changed.content
    record.refresh_from_db()
    assert (record.notes == f"by {role}") is may_change

    deleted = client.delete(url)
    assert deleted.status_code == (204 if may_delete else (403 if sees else 404))
    record.refresh_from_db()
    assert (record.deleted_at is not None) is may_delete


@pytest.mark.parametrize("type_key", TYPES)
def test_id_guessing_reveals_nothing(type_key, users, api_client_for):
    record = make(type_key, users["member"])
    client = api_client_for(users["outsider"])
    missing = client.get(f"/api/v1/{type_key}/{record.pk + 1000}/")
    hidden = client.get(f"/api/v1/{type_key}/{record.pk}/")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert post(client, f"/api/v1/{type_key}/{record.pk}/restore/", {}).status_code == 404


@pytest.mark.parametrize("type_key", TYPES)
def test_read_only_token_cannot_write(type_key, users, api_client_for):
    client = api_client_for(users["admin"], scope="read")
    assert client.get(f"/api/v1/{type_key}/").status_code == 200
    response = post(client, f"/api/v1/{type_key}/", example(type_key, 3))
    assert response.status_code == 403
    assert registry.get(type_key).model.objects.count() == 0


@pytest.mark.parametrize("type_key", TYPES)
def test_custom_fields_validated_and_filterable(type_key, users, api_client_for):
    CustomField.objects.create(
        record_type=type_key, key="tier", label="Tier", field_type="choice", choices=["gold", "silver"]
    )
    CustomField.objects.create(record_type=type_key, key="score", label="Score", field_type="number")
    client = api_client_for(users["admin"])
    base = f"/api/v1/{type_key}/"
    bad = post(client, base, {**example(type_key, 1), "custom": {"tier": "bronze", "score": "lots", "nope": 1}})
    assert bad.status_code == 400
    fields = bad.json()["fields"]
    assert set(fields) == {"custom.tier", "custom.score", "custom.nope"}
    assert "bronze" in fields["custom.tier"][0]
    assert registry.get(type_key).model.objects.count() == 0

    gold = post(client, base, {**example(type_key, 2), "custom": {"tier": "gold", "score": "12.5"}})
    assert gold.status_code == 201, gold.content
    assert gold.json()["custom"] == {"tier": "gold", "score": 12.5}
    post(client, base, {**example(type_key, 3), "custom": {"tier": "silver", "score": 3}})
    rows = client.get(base, {"cf_tier": "gold"}).json()["results"]
    assert [r["id"] for r in rows] == [gold.json()["id"]]
    rows = client.get(base, {"cf_score__gte": "10"}).json()["results"]
    assert [r["id"] for r in rows] == [gold.json()["id"]]
    assert client.get(base, {"cf_tier": "bronze"}).status_code == 400
    unknown = client.get(base, {"cf_colour": "red"})
    assert unknown.status_code == 400 and "cf_colour" in unknown.json()["fields"]


@pytest.mark.parametrize("type_key", TYPES)
@pytest.mark.parametrize(
    "params",
    [{"bogus": "1"}, {"ordering": "notes"}, {"page_size": "0"}, {"cursor": "garbage"}, {"created__after": "x"}],
)
def test_bad_list_parameters_are_rejected_with_their_name(type_key, params, users, api_client_for):
    response = api_client_for(users["admin"]).get(f"/api/v1/{type_key}/", params)
    assert response.status_code == 400
    assert list(params)[0] in response.json()["fields"]


@pytest.mark.parametrize("type_key", TYPES)
def test_bad_bodies_get_400_naming_the_field(type_key, users, api_client_for):
    client = api_client_for(users["admin"])
    base = f"/api/v1/{type_key}/"
    malformed = client.post(base, "{not json", content_type="application/json")
    assert malformed.status_code == 400 and malformed.json()["error"] == "malformed"
    too_long = post(client, base, {**example(type_key), "notes": "x" * 10_001})
    assert too_long.status_code == 400 and "notes" in too_long.json()["fields"]
    wrong_type = post(client, base, {**example(type_key), "tags": {"a": 1}})
    assert wrong_type.status_code == 400 and "tags" in wrong_type.json()["fields"]
    bad_owner = post(client, base, {**example(type_key), "owner": 99999})
    assert bad_owner.status_code == 400 and "owner" in bad_owner.json()["fields"]
    assert registry.get(type_key).model.objects.count() == 0


@pytest.mark.parametrize("type_key", TYPES)
def test_keyset_pagination_walks_every_row_once(type_key, users, api_client_for):
    for n in range(7):
        make(type_key, users["admin"], n)
    client = api_client_for(users["admin"])
    seen: list[int] = []
    url: str | None = f"/api/v1/{type_key}/?page_size=3&ordering=-updated_at"
    pages = 0
    while url:
        body = client.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
        pages += 1
    assert pages == 3 and len(seen) == 7 == len(set(seen))
    # and back again from the last page
    last = client.get(f"/api/v1/{type_key}/?page_size=3&ordering=-updated_at").json()
    second = client.get(last["next"]).json()
    back = client.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in last["results"]]


@pytest.mark.parametrize("type_key", TYPES)
def test_list_and_detail_query_counts_are_pinned(type_key, users, api_client_for, django_assert_num_queries):
    for n in range(5):
        make(type_key, users["admin"], n)
    client = api_client_for(users["admin"])
    # token lookup, token last_used update (first use only), the page
    client.get(f"/api/v1/{type_key}/")
    with django_assert_num_queries(3):  # token + user, the rate-limit count shared by every worker, the page
        assert len(client.get(f"/api/v1/{type_key}/").json()["results"]) == 5
    record = registry.get(type_key).model.objects.first()
    n_prefetch = len(registry.get(type_key).prefetch_related)
    with django_assert_num_queries(3 + n_prefetch):  # token + user, rate count, visibility-checked row, prefetches
        assert client.get(f"/api/v1/{type_key}/{record.pk}/").status_code == 200


def test_schema_and_docs_are_served_locally(users, client):
    client.force_login(users["admin"])
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/people/{id}/" in schema.content and b"/api/v1/companies/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


def test_unauthenticated_and_bad_tokens_are_refused(users, person):
    anonymous = Client().get("/api/v1/people/")
    assert anonymous.status_code in (401, 403)
    bad = Client(HTTP_AUTHORIZATION="Bearer rap_nope").get("/api/v1/people/")
    assert bad.status_code == 401 and bad.json()["error"]


@pytest.mark.parametrize("type_key", TYPES)
def test_export_through_the_api_follows_filters_and_scope(type_key, users, api_client_for):
    mine = make(type_key, users["member"], 1)
    theirs = make(type_key, users["outsider"], 2)
    client = api_client_for(users["member"])
    response = client.get(f"/api/v1/{type_key}/export/", {"format": "csv", "owner": "me"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    ids = [line.split(",")[0] for line in text.splitlines()[1:]]
    assert ids == [str(mine.pk)]
    everything = b"".join(client.get(f"/api/v1/{type_key}/export/").streaming_content).decode("utf-8-sig")
    assert str(theirs.pk) not in [line.split(",")[0] for line in everything.splitlines()[1:]]
    bad = client.get(f"/api/v1/{type_key}/export/", {"format": "pdf"})
    assert bad.status_code == 400 and "format" in bad.json()["fields"]
    denied = api_client_for(users["read-only"]).get(f"/api/v1/{type_key}/export/")
    assert denied.status_code == 403 and denied.json()["error"]


@pytest.mark.parametrize("type_key", TYPES)
def test_common_filters(type_key, users, api_client_for):
    tagged = write(type_key, {**example(type_key, 1), "tags": ["vip", "emea"]}, actor=users["member"])
    other = write(type_key, {**example(type_key, 2), "tags": ["apac"]}, actor=users["admin"])
    unowned = write(type_key, {**example(type_key, 3), "owner": None}, actor=users["admin"])
    client = api_client_for(users["admin"])

    def ids(**params):
        response = client.get(f"/api/v1/{type_key}/", params)
        assert response.status_code == 200, response.content
        return sorted(r["id"] for r in response.json()["results"])

    assert ids(tag="vip") == [tagged.pk]
    assert ids(tag="vip,apac") == sorted([tagged.pk, other.pk])
    assert ids(owner="me") == [other.pk]
    assert ids(owner="none") == [unowned.pk]
    assert ids(owner=str(users["member"].pk)) == [tagged.pk]
    assert ids(team=str(users["member"].team_id)) == sorted([tagged.pk, other.pk])
    assert ids(created__after="2000-01-01") == sorted([tagged.pk, other.pk, unowned.pk])
    assert ids(created__before="2000-01-01") == []


@pytest.mark.parametrize("type_key", TYPES)
def test_list_rows_match_the_record_as_retrieved(type_key, users, api_client_for, company):
    from rapport.core.models import CustomField

    CustomField.objects.create(record_type=type_key, key="tier", label="Tier", field_type="choice", choices=["gold"])
    data = {**example(type_key, 5), "custom": {"tier": "gold"}}
    if type_key == "people":
        data["company"] = company.pk
    record = write(type_key, data, actor=users["member"])
    client = api_client_for(users["admin"])
    row = next(r for r in client.get(f"/api/v1/{type_key}/").json()["results"] if r["id"] == record.pk)
    full = client.get(row["url"]).json()
    rtype = registry.get(type_key)
    for col in rtype.columns:
        field = rtype.model._meta.get_field(col.path)
        expected = full.get(field.name)
        if col.kind in ("user", "record"):
            assert row[col.key] == expected, col.key
        elif col.key in full:
            assert row[col.key] == expected, col.key
    assert row["custom"] == {"tier": "gold"} == full["custom"]
    assert row["created_at"] == full["created_at"] and row["created_at"].endswith("+00:00")


@pytest.mark.parametrize("type_key", TYPES)
def test_unknown_fields_are_refused_with_400_naming_them(type_key, users, api_client_for):
    """A misspelt key ("email" for "emails") must not be dropped silently: create and update answer
    400 naming it, and write nothing."""
    client = api_client_for(users["member"])
    base = f"/api/v1/{type_key}/"
    before = registry.get(type_key).model.objects.count()
    refused = post(client, base, {**example(type_key, 7), "colour_of_sky": "blue"})
    assert refused.status_code == 400, refused.content
    assert list(refused.json()["fields"]) == ["colour_of_sky"]
    assert registry.get(type_key).model.objects.count() == before

    record = make(type_key, users["member"], 8)
    url = f"{base}{record.pk}/"
    got = client.get(url)
    refused = patch(client, url, {"notes": "x", "nots": "y"}, HTTP_IF_MATCH=got["ETag"])
    assert refused.status_code == 400
    assert "nots" in refused.json()["fields"]
    assert refused.json()["fields"]["nots"] == ["Unknown field. Did you mean notes?"]
    assert client.get(url).json()["version"] == 1

    # A record read from the API can be sent back: server-managed keys are ignored, not refused.
    body = {k: v for k, v in got.json().items() if k in ("id", "type", "url", "version", "created_at", "notes")}
    assert patch(client, url, body).status_code == 200


def test_unknown_keys_inside_entries_are_refused(users, api_client_for):
    client = api_client_for(users["member"])
    refused = post(
        client,
        "/api/v1/people/",
        {"first_name": "Ada", "emails": [{"email": "ada@example.org", "primary": True, "label": "work"}]},
    )
    assert refused.status_code == 400
    assert refused.json()["fields"] == {"emails[0].label": ["Unknown field."]}


def test_person_with_email_instead_of_emails_is_refused(users, api_client_for):
    client = api_client_for(users["member"])
    refused = post(client, "/api/v1/people/", {"first_name": "Ada", "email": "ada@example.org"})
    assert refused.status_code == 400
    assert refused.json()["fields"] == {"email": ["Unknown field. Did you mean emails?"]}


def test_every_nested_write_entry_refuses_unknown_keys():
    """The class of defect: a list field of a write serializer whose entries drop unknown keys."""
    from rest_framework import serializers

    from rapport.core.serializers import RejectUnknownFields

    for rtype in registry.all_types():
        serializer = rtype.get_serializer_class()()
        assert isinstance(serializer, RejectUnknownFields), rtype.key
        for name, field in serializer.fields.items():
            child = getattr(field, "child", None)
            if isinstance(field, serializers.ListSerializer) and isinstance(child, serializers.Serializer):
                assert isinstance(child, RejectUnknownFields), f"{rtype.key}.{name} entries drop unknown keys"
