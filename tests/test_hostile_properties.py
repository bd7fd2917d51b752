"""Property-based sweep of hostile input over every registered type (from the registry): every list
filter and control parameter (API and list page) and every write field of the type's serializer (API
create and update, page create and edit) with generated values — NUL, lone surrogates, impossible and
far dates, numbers past 64 bits, deep and odd JSON, long text. The answer is never a 5xx, and a 4xx
writes nothing (row, event and search-entry counts unchanged; an updated record keeps its version).

Deterministic (``derandomize``) and bounded: a modest number of examples per type and path. CI runs it
on SQLite and PostgreSQL (where NUL in text used to be a 500)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rapport.core import listing, registry
from rapport.core.models import CustomField, Event, SearchEntry
from rapport.web.forms import build_fields

from .conftest import write
from .test_api_generic import example as payload

TYPES = registry.keys()
SURROGATE = re.compile("[\ud800-\udfff]")

SWEEP = settings(
    max_examples=12,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

HOSTILE_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "Call\r\nATTENDEE:mailto:x@example.com",
    "x" * 256,
    "y" * 20_001,
    "2026-02-30",
    "9999-12-31",
    "0001-01-01",
    "2026-02-01T10:00:00+01:00",
    "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00+14:00",
    "18446744073709551616",
    "²",
    "-9223372036854775809",
    "1e999",
    "-1",
    "0",
    "0.0000001",
    "NaN",
    "Infinity",
    "me",
    "none",
    "true",
    "1,2,,3",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%00",
    "Zoë 日本 🎉",
]
HUGE_NUMBERS = [2**31, 2**63, 2**64, -(2**63) - 1, 10**30, -(10**15), 1e300, -0.0]

query_text = st.one_of(
    st.sampled_from([s for s in HOSTILE_STRINGS if not SURROGATE.search(s)]),
    st.text(max_size=30),
    st.integers().map(str),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_NUMBERS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(HOSTILE_STRINGS),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
CUSTOM_TYPES = [
    ("text", {}),
    ("long_text", {}),
    ("number", {}),
    ("money", {}),
    ("date", {}),
    ("datetime", {}),
    ("boolean", {}),
    ("choice", {"choices": ["gold", "silver"]}),
    ("multi_choice", {"choices": ["a", "b"]}),
    ("email", {}),
    ("phone", {}),
    ("url", {}),
    ("user", {}),
    ("reference", {"reference_type": "companies"}),
]


@pytest.fixture
def custom_fields(db) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for type_key in TYPES:
        for ftype, extra in CUSTOM_TYPES:
            CustomField.objects.create(record_type=type_key, key=f"h_{ftype}", label=ftype, field_type=ftype, **extra)
        keys[type_key] = [f"h_{ftype}" for ftype, _ in CUSTOM_TYPES]
    return keys


def list_params(type_key: str, cf_keys: list[str]) -> list[str]:
    names = ["cursor", "ordering", "page_size", "columns", "view", "unknown_param"]
    for spec in registry.get(type_key).filters:
        if spec.kind == "date_range":
            names += [f"{spec.name}__after", f"{spec.name}__before", f"{spec.name}__isnull"]
        elif spec.kind == "query":  # every part of it (deals' entered, entered__after...)
            names += [f"{spec.name}__{op}" if op else spec.name for op, _, _ in spec.parts]
        else:
            names.append(spec.name)
            if spec.kind in listing.NEGATABLE:
                names.append(f"{spec.name}__not")
            if spec.kind in listing.EMPTIABLE:
                names.append(f"{spec.name}__isnull")
    for key in cf_keys:
        names += [f"cf_{key}", f"cf_{key}__gte", f"cf_{key}__lte", f"cf_{key}__contains", f"cf_{key}__isnull"]
        names.append(f"cf_{key}__not")
    return names


def write_fields(type_key: str) -> list[str]:
    serializer = registry.get(type_key).get_serializer_class()()
    return [name for name, f in serializer.fields.items() if not f.read_only]


def state(type_key: str) -> tuple[int, int, int]:
    model = registry.get(type_key).model
    return model.objects.count(), Event.objects.count(), SearchEntry.objects.count()


def no_server_error(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what} answered {response.status_code}"


# --- lists ------------------------------------------------------------------------------------
@pytest.mark.parametrize("type_key", TYPES)
def test_list_filters_never_fail_on_the_api_or_the_list_page(type_key, users, api_client_for, client, custom_fields):
    write(type_key, payload(type_key, 0), actor=users["admin"])
    api = api_client_for(users["admin"])
    api.raise_request_exception = False
    client.force_login(users["admin"])
    client.raise_request_exception = False
    names = list_params(type_key, custom_fields[type_key])

    def check(params: list[tuple[str, str]], everywhere: bool) -> None:
        query = urlencode(params)
        no_server_error(api.get(f"/api/v1/{type_key}/?{query}"), f"GET /api/v1/{type_key}/?{query}")
        if not everywhere:
            return
        no_server_error(client.get(f"/{type_key}/?{query}"), f"GET /{type_key}/?{query}")
        export = api.get(f"/api/v1/{type_key}/export/?{query}")
        no_server_error(export, f"export ?{query}")
        if export.streaming:
            b"".join(export.streaming_content)  # rows are read while streaming

    sweep = given(
        params=st.lists(st.tuples(st.sampled_from(names), query_text), min_size=1, max_size=3), everywhere=st.just(True)
    )(check)
    # Besides the generated cases, every parameter once with NUL (PostgreSQL's 500) and a number past
    # 64 bits (the driver's overflow), every date parameter with a far date, on the API: a filter added
    # later is covered the day it is registered.
    for name in names:
        if "__" in name and name.startswith("cf_") and not name.endswith("__gte"):
            continue
        sweep = example(params=[(name, "a\x00b")], everywhere=False)(sweep)
        sweep = example(params=[(name, str(2**64))], everywhere=False)(sweep)
        if name.endswith(("__after", "__before", "date__gte", "datetime__gte")):
            sweep = example(params=[(name, "9999-12-31")], everywhere=False)(sweep)
    SWEEP(sweep)()


# --- writes through the API -------------------------------------------------------------------
@pytest.mark.parametrize("type_key", TYPES)
def test_write_fields_never_fail_and_a_refusal_writes_nothing_on_the_api(
    type_key, users, api_client_for, custom_fields
):
    record = write(type_key, payload(type_key, 0), actor=users["admin"])
    api = api_client_for(users["admin"])
    api.raise_request_exception = False
    fields = write_fields(type_key)
    custom = st.dictionaries(st.sampled_from([*custom_fields[type_key], "nope"]), json_values, max_size=3)
    counter = iter(range(1, 10_000))

    @SWEEP
    @given(
        changes=st.dictionaries(st.sampled_from(fields), json_values, min_size=1, max_size=2),
        custom_values=st.one_of(st.none(), custom),
    )
    def sweep(changes: dict[str, Any], custom_values: dict[str, Any] | None) -> None:
        if custom_values is not None:
            changes["custom"] = custom_values
        body = json.dumps({**payload(type_key, next(counter)), **changes})
        before = state(type_key)
        created = api.post(f"/api/v1/{type_key}/", body, content_type="application/json")
        no_server_error(created, f"POST {type_key} {body[:300]}")
        if created.status_code >= 400:
            assert state(type_key) == before, f"a refused create wrote something: {body[:300]}"
        record.refresh_from_db()
        version, before = record.version, state(type_key)
        patch = json.dumps(changes)
        updated = api.patch(f"/api/v1/{type_key}/{record.pk}/", patch, content_type="application/json")
        no_server_error(updated, f"PATCH {type_key} {patch[:300]}")
        if updated.status_code >= 400:
            record.refresh_from_db()
            assert record.version == version and state(type_key) == before, f"a refused update wrote: {patch[:300]}"
        if created.status_code < 300:
            no_server_error(api.get(f"/api/v1/{type_key}/{created.json()['id']}/"), "reading back a create")
        no_server_error(api.get(f"/api/v1/{type_key}/{record.pk}/"), "reading back an update")
        no_server_error(api.get(f"/api/v1/{type_key}/"), "the list after a write")

    sweep()


# --- writes through the pages -----------------------------------------------------------------
def form_inputs(type_key: str) -> list[str]:
    rtype = registry.get(type_key)
    names = ["version"]
    for spec in build_fields(rtype, rtype.get_serializer_class()()):
        names.append(spec.name)
        names += [f"{spec.name}_{part.name}" for part in spec.parts[1:]]
        if spec.widget == "rows":
            names.append(f"{spec.name}_primary")
        if spec.widget == "money":
            names.append(f"{spec.name}__currency")
    return names


@pytest.mark.parametrize("type_key", TYPES)
def test_form_posts_never_fail_and_a_refusal_writes_nothing_on_the_pages(type_key, users, client, custom_fields):
    record = write(type_key, payload(type_key, 0), actor=users["admin"])
    client.force_login(users["admin"])
    client.raise_request_exception = False
    names = form_inputs(type_key)

    @SWEEP
    @given(
        posted=st.dictionaries(
            st.sampled_from(names), st.lists(query_text, min_size=1, max_size=2), min_size=1, max_size=4
        )
    )
    def sweep(posted: dict[str, list[str]]) -> None:
        before = state(type_key)
        created = client.post(f"/{type_key}/new/", posted)
        no_server_error(created, f"POST /{type_key}/new/ {posted}")
        if created.status_code >= 400:
            assert state(type_key) == before, f"a refused form wrote something: {posted}"
        record.refresh_from_db()
        version, before = record.version, state(type_key)
        edited = client.post(f"/{type_key}/{record.pk}/edit/", posted)
        no_server_error(edited, f"POST /{type_key}/{record.pk}/edit/ {posted}")
        if edited.status_code >= 400:
            record.refresh_from_db()
            assert record.version == version and state(type_key) == before, f"a refused edit wrote: {posted}"
        no_server_error(client.get(f"/{type_key}/{record.pk}/"), "the detail page after a write")

    sweep()
