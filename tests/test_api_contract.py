"""The published OpenAPI document is a contract typed clients can use: every operation declares its
bodies, headers and errors; custom fields appear per installation; JSON or YAML on request.

(Every /api/ response the suite produces is also validated against it: tests/schema_check.py.)
"""

from __future__ import annotations

import json

import pytest
import yaml
from django.http import HttpResponse
from django.test import Client
from openapi_spec_validator import validate as validate_spec

from rapport.core import registry
from rapport.core.models import CustomField

from . import schema_check
from .conftest import write

METHODS = ("get", "post", "put", "patch", "delete")
ERROR_REF = "#/components/schemas/Error"


def operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [(path, m, op) for path, item in schema["paths"].items() for m, op in item.items() if m in METHODS]


@pytest.fixture
def schema(db) -> dict:
    return schema_check.published_schema()


def test_the_document_is_valid_openapi_3_1(schema):
    assert schema["openapi"].startswith("3.1")
    validate_spec(json.loads(json.dumps(schema, default=str)))


def test_every_success_answer_has_a_typed_body(schema):
    missing = []
    for path, method, op in operations(schema):
        for code, response in op["responses"].items():
            if not code.startswith("2") or code == "204":
                continue
            content = response.get("content") or {}
            body = next(iter(content.values()), {}).get("schema")
            if not body:
                missing.append(f"{method.upper()} {path} {code}")
            elif "json" in next(iter(content)) and "$ref" not in body:
                missing.append(f"{method.upper()} {path} {code}: inline, not a named component")
    assert missing == []


def test_every_operation_declares_its_errors_with_the_one_error_schema(schema):
    wrong = []
    for path, method, op in operations(schema):
        responses = op["responses"]
        expected = {"401", "403", "429", "503"} | ({"404"} if "{" in path else set())
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        if "If-Match" in headers:
            expected |= {"412", "409"}
        if "Idempotency-Key" in headers:
            expected |= {"422"}
        if "requestBody" in op:
            expected |= {"400"}
        if "If-None-Match" in headers:
            assert "304" in responses, f"{method} {path}"
        for code in expected - set(responses):
            wrong.append(f"{method.upper()} {path}: no {code}")
        for code, response in responses.items():
            # 414 comes from the HTTP server, without a body
            if (code.startswith("4") and code != "414") or code == "503":
                ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
                # a create with check_duplicates=true: the Error fields plus the matches
                if ref != ERROR_REF and (code, ref) != ("409", "#/components/schemas/LikelyDuplicates"):
                    wrong.append(f"{method.upper()} {path} {code}: not the Error schema")
        assert "Retry-After" in responses["429"]["headers"]
        assert responses["503"]["headers"]["Retry-After"]["required"], f"{method} {path}"
    assert wrong == []


@pytest.mark.parametrize("type_key", registry.keys())
def test_record_operations_declare_etag_location_and_idempotency_headers(schema, type_key):
    paths = schema["paths"]
    create = paths[f"/api/v1/{type_key}/"]["post"]["responses"]["201"]["headers"]
    assert create["ETag"]["required"] and create["Location"]["required"] and "Idempotent-Replayed" in create
    detail = paths[f"/api/v1/{type_key}/{{id}}/"]
    for method in ("get", "patch", "put"):
        assert detail[method]["responses"]["200"]["headers"]["ETag"]["required"], method
    assert detail["get"]["responses"]["304"]["headers"]["ETag"]
    assert paths[f"/api/v1/{type_key}/{{id}}/restore/"]["post"]["responses"]["200"]["headers"]["ETag"]


@pytest.mark.parametrize("type_key", registry.keys())
def test_record_schema_follows_the_model_types_and_nullability(schema, type_key):
    rtype = registry.get(type_key)
    components = schema["components"]["schemas"]
    record = components[rtype.label]
    row = components[f"{rtype.label}Row"]
    for field in rtype.model.tracked_fields():
        prop = record["properties"][field.name]
        assert field.name in record["required"]
        may_be_null = "null" in json.dumps(prop)
        assert may_be_null == bool(field.null), f"{type_key}.{field.name}: {prop}"
    for col in rtype.columns:
        assert col.key in row["properties"], col.key
    # a row is typed like the record: no number, boolean or link typed as a string
    for col in rtype.columns:
        field = rtype.model._meta.get_field(col.path)
        prop = json.dumps(row["properties"][col.key])
        if field.get_internal_type() == "BooleanField":
            assert '"boolean"' in prop, col.key
        if field.get_internal_type() == "ForeignKey":
            assert "Link" in prop, col.key


def test_activity_times_are_nullable_for_tasks(schema):
    props = schema["components"]["schemas"]["Activity"]["properties"]
    assert props["start_at"]["type"] == ["string", "null"] and props["due_at"]["type"] == ["string", "null"]


def test_one_pagination_style_everywhere(schema):
    """Every list answers {results, next, previous} and takes `cursor`."""
    components = schema["components"]["schemas"]
    lists = 0
    for path, method, op in operations(schema):
        ref = op["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
        body = components.get(ref.get("$ref", "").rsplit("/", 1)[-1], {})
        if "results" not in body.get("properties", {}) or method != "get":
            continue
        params = {p["name"] for p in op.get("parameters", [])}
        if "cursor" not in params:  # short lists in one answer (pipelines, lost reasons, rates, quotas)
            assert not {"next", "next_cursor", "next_before"} & set(body["properties"]), path
            continue
        lists += 1
        assert {"next", "previous"} <= set(body["properties"]), path
        assert not {"next_cursor", "next_before"} & set(body["properties"]), path
    assert lists >= 10


def test_no_literal_custom_field_placeholder(schema):
    names = {p["name"] for _, _, op in operations(schema) for p in op.get("parameters", [])}
    assert not [n for n in names if "<" in n]


@pytest.mark.parametrize("type_key", registry.keys())
def test_custom_fields_appear_per_installation_and_the_schema_is_not_stale(type_key, users):
    client = Client()
    client.force_login(users["admin"])
    label = registry.get(type_key).label
    before = client.get("/api/schema/").json()
    assert before["components"]["schemas"][f"{label}Custom"]["properties"] == {}
    CustomField.objects.create(record_type=type_key, key="budget", label="Budget", field_type="money")
    CustomField.objects.create(
        record_type=type_key, key="tier", label="Tier", field_type="choice", choices=["gold", "silver"]
    )
    CustomField.objects.create(record_type=type_key, key="score", label="Score", field_type="number")
    after = client.get("/api/schema/").json()
    custom = after["components"]["schemas"][f"{label}Custom"]["properties"]
    assert custom["tier"]["enum"] == ["gold", "silver", None]
    assert custom["score"]["type"] == ["number", "null"]
    assert custom["budget"]["type"] == ["object", "null"] and custom["budget"]["required"] == ["amount", "currency"]
    params = {p["name"]: p for p in after["paths"][f"/api/v1/{type_key}/"]["get"]["parameters"]}
    assert params["cf_score"]["schema"] == {"type": "number"}
    assert {"cf_score__gte", "cf_score__lte", "cf_budget__gte", "cf_tier", "cf_tier__isnull", "cf_tier__not"} <= set(
        params
    )
    assert "cf_tier__gte" not in params
    assert params["cf_tier"]["schema"]["enum"] == ["gold", "silver"]
    export = {p["name"] for p in after["paths"][f"/api/v1/{type_key}/export/"]["get"]["parameters"]}
    assert "cf_tier" in export
    write_component = registry.get(type_key).get_serializer_class().__name__.removesuffix("Serializer") + "Request"
    assert after["components"]["schemas"][write_component]["properties"]["custom"]["allOf"][0]["$ref"].endswith(
        f"/{label}Custom"
    )


def test_custom_values_in_answers_are_validated_against_their_types(users, api_client_for):
    CustomField.objects.create(record_type="people", key="score", label="Score", field_type="number")
    client = api_client_for(users["member"])
    answer = client.post(
        "/api/v1/people/", {"first_name": "Ann", "custom": {"score": 12.5}}, content_type="application/json"
    )
    assert answer.status_code == 201 and answer.json()["custom"] == {"score": 12.5}
    page = client.get("/api/v1/people/", {"cf_score__gte": "12"})
    assert [r["first_name"] for r in page.json()["results"]] == ["Ann"]


@pytest.mark.parametrize(
    "query, accept, kind",
    [
        ("?format=json", "*/*", "json"),
        ("?format=yaml", "*/*", "yaml"),
        ("", "application/json", "json"),
        ("", "application/yaml", "yaml"),
        ("", "application/vnd.oai.openapi", "yaml"),
        ("", "*/*", "json"),
        ("?format=json", "application/yaml", "json"),
    ],
)
def test_schema_in_json_or_yaml_by_format_and_accept(users, query, accept, kind):
    client = Client()
    client.force_login(users["member"])
    answer = client.get(f"/api/schema/{query}", HTTP_ACCEPT=accept)
    assert answer.status_code == 200
    if kind == "json":
        assert answer["Content-Type"].startswith("application/json")
        assert json.loads(answer.content)["openapi"].startswith("3.1")
    else:
        assert "yaml" in answer["Content-Type"] or "openapi" in answer["Content-Type"]
        assert not answer.content.lstrip().startswith(b"{")
        assert yaml.safe_load(answer.content)["openapi"].startswith("3.1")


def test_schema_refuses_an_unknown_format(users):
    client = Client()
    client.force_login(users["member"])
    answer = client.get("/api/schema/?format=xml")
    assert answer.status_code == 400 and answer.json()["fields"] == {"format": ["use json or yaml."]}


def test_the_response_check_fails_on_an_answer_the_schema_does_not_describe(users, api_client_for, person):
    """The suite-wide check is real: a body that breaks the schema raises, naming the operation and field."""
    client = api_client_for(users["member"])
    schema_check.set_enabled(False)
    try:
        good = client.get(f"/api/v1/people/{person.pk}/")
    finally:
        schema_check.set_enabled(True)
    schema_check.check(good)  # passes as it is
    body = good.json()
    body["first_name"] = 42
    bad = HttpResponse(json.dumps(body), content_type="application/json", headers={"ETag": good["ETag"]})
    bad.wsgi_request = good.wsgi_request
    expected = r"(?s)GET /api/v1/people/\d+/ answered 200.*at first_name: 42 is not of type"
    with pytest.raises(schema_check.SchemaViolation, match=expected):
        schema_check.check(bad)
    undeclared = HttpResponse(json.dumps({"error": "x", "message": "y"}), status=418, content_type="application/json")
    undeclared.wsgi_request = good.wsgi_request
    with pytest.raises(schema_check.SchemaViolation):
        schema_check.check(undeclared)
    no_etag = HttpResponse(good.content, content_type="application/json")
    no_etag.wsgi_request = good.wsgi_request
    with pytest.raises(schema_check.SchemaViolation, match="ETag"):
        schema_check.check(no_etag)


# --- boolean choice filters (My day's "see them all" link) --------------------------------------------------
def test_activities_done_filter_on_the_api_and_the_page(users, api_client_for):
    member = users["member"]
    write("activities", {"kind": "task", "subject": "Open task", "due_at": "2026-03-02T10:00:00Z"}, actor=member)
    write("activities", {"kind": "note", "subject": "A note", "body": "done by nature"}, actor=member)
    client = api_client_for(member)
    open_ = client.get("/api/v1/activities/", {"done": "false"})
    assert open_.status_code == 200, open_.content
    assert [r["subject"] for r in open_.json()["results"]] == ["Open task"]
    assert open_.json()["results"][0]["start_at"] is None
    done = client.get("/api/v1/activities/", {"done": "true"})
    assert [r["subject"] for r in done.json()["results"]] == ["A note"]
    page = Client()
    page.force_login(member)
    answer = page.get(f"/activities/?assignee={member.pk}&done=false&ordering=due_at")
    assert answer.status_code == 200
    assert b"Open task" in answer.content and b"A note" not in answer.content


@pytest.mark.parametrize("type_key", registry.keys())
def test_every_choice_filter_value_answers_200_on_the_api_and_the_page(type_key, users, api_client_for):
    rtype = registry.get(type_key)
    client = api_client_for(users["admin"])
    page = Client()
    page.force_login(users["admin"])
    for spec in rtype.filters:
        for value, _ in spec.choices:
            api = client.get(f"/api/v1/{type_key}/", {spec.name: value})
            assert api.status_code == 200, (spec.name, value, api.content)
            html = page.get(f"/{type_key}/", {spec.name: value})
            assert html.status_code == 200, (spec.name, value)


def test_an_api_address_that_names_nothing_answers_the_json_error(users, api_client_for):
    client = api_client_for(users["member"])
    for path in ("/api/v1/people/null/", "/api/v1/people/-5/restore/", "/api/v1/nothing-here/"):
        answer = client.get(path)
        assert answer.status_code == 404 and answer.json()["error"] == "not_found", path
    page = Client()
    page.force_login(users["member"])
    assert page.get("/nothing-here/")["Content-Type"].startswith("text/html")


def test_nested_entries_are_whole_in_a_patch(users, api_client_for, person):
    """A PATCH of a nested entry missing a required field is a 400 naming it, not a 500 (schemathesis)."""
    client = api_client_for(users["member"])
    cases = [
        ("people", person.pk, {"emails": [{"primary": True}]}, "emails[0].email"),
        ("people", person.pk, {"phones": [{"kind": "mobile"}]}, "phones[0].number"),
    ]
    activity = write("activities", {"kind": "task", "subject": "T"}, actor=users["member"])
    cases.append(("activities", activity.pk, {"links": [{"id": person.pk}]}, "links[0].type"))
    for type_key, pk, body, field in cases:
        answer = client.patch(f"/api/v1/{type_key}/{pk}/", body, content_type="application/json")
        assert answer.status_code == 400 and field in answer.json()["fields"], (body, answer.content)
    ok = client.patch(f"/api/v1/people/{person.pk}/", {"phones": ["+1 415 555 0199"]}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["phones"] == [
        {"number": "+14155550199", "kind": "work", "primary": True}
    ]
