"""Every operation the API publishes, not only the registered types' ones (pipelines, stages, quotes,
rates, quotas, reminders, my day...): each query parameter with a number past 64 bits, and each write
body with every field set to text no database stores, to such a number and to a far date. The answer is
never a 5xx and a refused write leaves no event. Walks the schema, so an endpoint added later is
covered the day it is published (schemathesis does the deeper version in CI)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from rapport.core import registry
from rapport.core.models import Event

from .conftest import write
from .test_api_generic import example as payload

BODY_VALUES: list[Any] = ["a\x00b\ud800", 2**64, "9999-12-31T23:59:59-05:00"]


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    out = []
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            if method not in ("get", "post", "patch", "put"):
                continue
            body = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema", {})
            ref = body.get("$ref", "")
            props = components[ref.split("/")[-1]].get("properties", {}) if ref else {}
            names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            out.append((method, path, {"props": list(props), "params": names}))
    return out


@pytest.mark.django_db
def test_no_operation_answers_a_server_error_to_hostile_input(users, api_client_for):
    for type_key in registry.keys():
        write(type_key, payload(type_key, 0), actor=users["admin"])
    api = api_client_for(users["admin"])
    api.raise_request_exception = False
    failures = []
    ops = operations()
    assert len(ops) >= 40
    for method, path, spec in ops:
        url = re.sub(r"\{[^}]+\}", "1", path)
        if method == "get":
            for name in spec["params"]:
                response = api.get(url, {name: str(2**64)})
                if response.status_code >= 500:
                    failures.append(f"GET {url}?{name}=2**64: {response.status_code}")
            continue
        for value in BODY_VALUES:
            body = json.dumps(dict.fromkeys(spec["props"] or ["x"], value))
            events = Event.objects.count()
            response = getattr(api, method)(url, body, content_type="application/json")
            if response.status_code >= 500:
                failures.append(f"{method.upper()} {url} {body[:120]}: {response.status_code}")
            elif response.status_code >= 400 and Event.objects.count() != events:
                failures.append(f"{method.upper()} {url} {body[:120]}: refused but wrote an event")
    assert failures == []
