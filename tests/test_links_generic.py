"""Links respect visibility, for every registered type and every link field (issue 7 §1).

The link fields are discovered from the registry's write serializers (core.checks.link_fields),
activity links and a reference custom field per type, so a link added later is covered the day it
is declared. A member of team East may not link to a team West record, and gets for it exactly
the answer an id that never existed gets, and a deleted id gets; nor may they learn its name on
the API, the pages or in exports.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client
from rest_framework import serializers

from rapport.core import registry, services
from rapport.core.checks import check_links, link_fields
from rapport.core.models import CustomField
from rapport.core.serializers import RecordLinkField

from .conftest import write
from .test_api_generic import example, patch, post

# Every type team-scoped here, products too (see conftest.team_scoped_catalogue).
pytestmark = pytest.mark.usefixtures("team_scoped_catalogue")

SECRET = "Zanzibar"  # in the name of every team West record; must never reach a team East member


def _links() -> list[tuple[str, str, str]]:
    """(type with the link, field path, linked type) for every link field of every type."""
    out = []
    for rtype in registry.all_types():
        for path, f in link_fields(rtype.get_serializer_class()()):
            if isinstance(f, RecordLinkField):
                out.append((rtype.key, path, registry.for_model(f.model).key))
    return out


LINKS = _links()
LINK_IDS = [f"{t}.{p}" for t, p, _ in LINKS]


def test_discovery_finds_the_known_links():
    # The discovery is not empty by accident: the links of today's types are among its findings.
    assert {("people", "company", "companies"), ("companies", "parent", "companies")} <= set(LINKS)
    assert {("deals", "company", "companies"), ("deals", "contacts.person", "people")} <= set(LINKS)
    assert ("deals", "line_items.product", "products") in LINKS


def test_a_link_field_without_visibility_fails_the_system_check(monkeypatch):
    from rapport.contacts.models import Company
    from rapport.contacts.serializers import PersonWriteSerializer

    class Careless(PersonWriteSerializer):
        employer = serializers.PrimaryKeyRelatedField(queryset=Company.objects.all())

        class Meta(PersonWriteSerializer.Meta):
            fields = (*PersonWriteSerializer.Meta.fields, "employer")

    assert check_links() == []
    monkeypatch.setattr(registry.get("people"), "serializer", lambda: Careless)
    errors = check_links()
    assert [e.id for e in errors] == ["rapport.E003"]
    assert "employer" in errors[0].msg


# --- records of both teams ------------------------------------------------------------------------
def _named(type_key: str, n: int, name: str) -> dict[str, Any]:
    data = example(type_key, n)
    title = registry.get(type_key).title_fields[0]
    data[title] = name
    if type_key == "products":
        data["prices"] = [{"currency": "EUR", "unit_price": "10.00"}, {"currency": "USD", "unit_price": "10.00"}]
    return data


@pytest.fixture
def world(users):
    """Per type: a record of the member's (East), one of the outsider's (West, with SECRET in its
    name), a deleted one and an id that never existed."""
    out: dict[str, dict[str, int]] = {}
    for n, rtype in enumerate(registry.all_types()):
        mine = write(rtype.key, _named(rtype.key, 100 + n, "Ours"), actor=users["member"])
        theirs = write(rtype.key, _named(rtype.key, 200 + n, SECRET), actor=users["outsider"])
        gone = write(rtype.key, _named(rtype.key, 300 + n, "Gone"), actor=users["member"])
        services.delete_record(gone, actor=users["member"], source="system")
        missing = rtype.model.objects.order_by("-pk").values_list("pk", flat=True)[0] + 1000
        out[rtype.key] = {"mine": mine.pk, "theirs": theirs.pk, "gone": gone.pk, "missing": missing}
    return out


def _entry(type_key: str, path: str, value: int) -> dict[str, Any]:
    """A write body setting the link at ``path`` (``company`` or ``contacts.person``) to ``value``:
    a nested entry's other fields are filled from the child serializer's field kinds."""
    name, _, child_name = path.partition(".")
    if not child_name:
        return {name: value}
    child = registry.get(type_key).get_serializer_class()().fields[name].child
    entry: dict[str, Any] = {}
    for key, f in child.fields.items():
        if key == child_name or f.read_only:
            continue
        if isinstance(f, serializers.DecimalField):
            entry[key] = "1"
        elif isinstance(f, serializers.ChoiceField):
            entry[key] = next(iter(f.choices))
        elif isinstance(f, serializers.CharField):
            entry[key] = "Line"
    entry[child_name] = value
    return {name: [entry]}


def _answer(response: Any, value: int) -> tuple[int, str]:
    """Status and body with the id itself blanked, to compare the answers for two ids (of a page,
    its main content: the chrome around it carries a CSRF token)."""
    text = response.content.decode()
    main = re.search(r"<main\b.*?</main>", text, re.S)
    return response.status_code, re.sub(rf"\b{value}\b", "<id>", main.group(0) if main else text)


def _link_cases() -> list[tuple[str, str, str]]:
    return LINKS


def _base(type_key: str) -> str:
    return f"/api/v1/{type_key}/"


@pytest.mark.parametrize(("type_key", "path", "target"), LINKS, ids=LINK_IDS)
def test_api_create_and_update_link_only_visible_records(type_key, path, target, users, world, api_client_for):
    client = api_client_for(users["member"])
    ids = world[target]

    serial = iter(range(500, 600))

    def create(value: int) -> Any:
        body = {**_named(type_key, next(serial), "New"), **_entry(type_key, path, value)}
        return post(client, _base(type_key), body)

    ok = create(ids["mine"])
    assert ok.status_code == 201, ok.content
    answers = {kind: _answer(create(ids[kind]), ids[kind]) for kind in ("theirs", "gone", "missing")}
    assert answers["missing"][0] == 400
    assert path.split(".")[-1] in answers["missing"][1]
    # Another team's record, a deleted one and one that never existed: one and the same answer.
    assert answers["theirs"] == answers["missing"] == answers["gone"]
    assert SECRET not in answers["theirs"][1]

    url = f"{_base(type_key)}{ok.json()['id']}/"
    for kind in ("theirs", "gone", "missing"):
        changed = patch(client, url, _entry(type_key, path, ids[kind]))
        assert _answer(changed, ids[kind]) == answers["missing"]
    assert client.get(url).json()["version"] == 1  # nothing was written


@pytest.mark.parametrize("type_key", registry.keys())
def test_reference_custom_fields_link_only_visible_records(type_key, users, world, api_client_for):
    client = api_client_for(users["member"])
    for target in registry.keys():
        CustomField.objects.create(
            record_type=type_key,
            key=f"ref_{target}",
            label=f"Ref {target}",
            field_type="reference",
            reference_type=target,
        )
    serial = iter(range(500, 600))
    for target, ids in world.items():

        def create(value: int, target: str = target) -> Any:
            body = {**_named(type_key, next(serial), "New"), "custom": {f"ref_{target}": value}}
            return post(client, _base(type_key), body)

        assert create(ids["mine"]).status_code == 201
        answers = {kind: _answer(create(ids[kind]), ids[kind]) for kind in ("theirs", "gone", "missing")}
        assert answers["missing"][0] == 400
        assert answers["theirs"] == answers["missing"] == answers["gone"], target


@pytest.mark.parametrize("target", registry.keys())
def test_activity_links_only_to_visible_records(target, users, world, api_client_for):
    if target == "activities":
        pytest.skip("activities do not link to activities")
    client = api_client_for(users["member"])
    ids = world[target]

    def create(value: int) -> Any:
        body = {"kind": "note", "subject": "Called", "links": [{"type": target, "id": value}]}
        return post(client, "/api/v1/activities/", body)

    assert create(ids["mine"]).status_code == 201
    answers = {kind: _answer(create(ids[kind]), ids[kind]) for kind in ("theirs", "gone", "missing")}
    assert answers["missing"][0] == 400
    assert answers["theirs"] == answers["missing"] == answers["gone"]


def test_a_link_the_record_already_has_may_be_sent_back(users, world, api_client_for):
    # An admin linked the member's person to team West's company; the member may still save the
    # person with that link unchanged (the form sends it back), but not link anything new to it.
    person = write("people", {"first_name": "Kept", "company": world["companies"]["theirs"]}, actor=users["member"])
    client = api_client_for(users["member"])
    url = f"/api/v1/people/{person.pk}/"
    kept = patch(client, url, {"company": world["companies"]["theirs"], "job_title": "CTO"})
    assert kept.status_code == 200, kept.content
    other = post(client, "/api/v1/people/", {"first_name": "New", "company": world["companies"]["theirs"]})
    assert other.status_code == 400


def test_clashes_do_not_name_records_the_actor_cannot_see(users, api_client_for):
    write("companies", {"name": f"{SECRET} Ltd", "domain": "zanzibar.example"}, actor=users["outsider"])
    write("people", {"first_name": SECRET, "emails": ["z@zanzibar.example"]}, actor=users["outsider"])
    client = api_client_for(users["member"])
    domain = post(client, "/api/v1/companies/", {"name": "Mine", "domain": "zanzibar.example"})
    assert domain.status_code == 400
    assert domain.json()["fields"]["domain"] == ["Another company already has the domain zanzibar.example."]
    email = post(client, "/api/v1/people/", {"first_name": "Mine", "emails": ["z@zanzibar.example"]})
    assert email.status_code == 400
    assert json.dumps(email.json()).count("#") == 0
    assert "z@zanzibar.example belongs to another person." in json.dumps(email.json())

    # Whoever may see the other record is told which one it is.
    admin = api_client_for(users["admin"])
    seen = post(admin, "/api/v1/companies/", {"name": "Mine", "domain": "zanzibar.example"})
    assert f"{SECRET} Ltd (#" in seen.json()["fields"]["domain"][0]


def _page_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(("type_key", "path", "target"), [c for c in LINKS if "." not in c[1]], ids=lambda v: v)
def test_pages_refuse_links_to_invisible_records(type_key, path, target, users, world):
    client = _page_client(users["member"])
    title = registry.get(type_key).title_fields[0]

    # A type's other required fields (a payment's amount and day) come from its example.
    fields = registry.get(type_key).get_serializer_class()(context={"actor": users["member"]}).fields
    required = {k: v for k, v in example(type_key).items() if k in fields and fields[k].required and k != path}

    def create(value: int) -> Any:
        return client.post(f"/{type_key}/new/", {**required, title: "Paged", path: str(value)})

    assert create(world[target]["mine"]).status_code == 302
    answers = {}
    for kind in ("theirs", "gone", "missing"):
        value = world[target][kind]
        response = create(value)
        text = response.content.decode()
        assert response.status_code == 400 and SECRET not in text
        # The error next to the field, with the id blanked, is the same for all three.
        error = re.search(r'class="errorlist"[^>]*>(.*?)</ul>', text, re.S)
        assert error is not None, text
        answers[kind] = re.sub(rf"\b{value}\b", "<id>", error.group(1))
    assert answers["theirs"] == answers["gone"] == answers["missing"]
    assert "There is no" in answers["missing"]


# --- reading: the name of an invisible linked record is never shown ------------------------------
def _value_at(body: dict[str, Any], path: str) -> Any:
    name, _, child = path.partition(".")
    return body[name][0][child] if child else body[name]


def _text(response: Any) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def _surfaces(client: Client, api: Client, type_key: str, pk: int) -> dict[str, str]:
    """Everything a viewer can read about the record: API detail and list, list page with every
    column, detail page, CSV export, search."""
    columns = ",".join(c.key for c in registry.get(type_key).columns)
    return {
        "api detail": api.get(f"/api/v1/{type_key}/{pk}/").content.decode(),
        "api list": api.get(f"/api/v1/{type_key}/").content.decode(),
        "list page": client.get(f"/{type_key}/", {"columns": columns}).content.decode(),
        "detail page": client.get(f"/{type_key}/{pk}/").content.decode(),
        "export": _text(client.get(f"/{type_key}/export/", {"format": "csv"})),
        "edit form": client.get(f"/{type_key}/{pk}/edit/").content.decode(),
        "search": api.get("/api/v1/search/", {"q": "Linker"}).content.decode(),
        "search by name": api.get("/api/v1/search/", {"q": SECRET}).content.decode(),
    }


@pytest.mark.parametrize(("type_key", "path", "target"), LINKS, ids=LINK_IDS)
def test_the_name_of_an_invisible_linked_record_is_never_shown(type_key, path, target, users, world, api_client_for):
    theirs = world[target]["theirs"]
    # An admin (or a team change) linked the member's record to team West's: the member sees
    # that the link exists (its id) and never its name, on every surface.
    data = {**_named(type_key, 900, "Linker"), **_entry(type_key, path, theirs)}
    record = write(type_key, data, actor=users["member"])
    member = _surfaces(_page_client(users["member"]), api_client_for(users["member"]), type_key, record.pk)
    for surface, text in member.items():
        assert text and SECRET not in text, f"{surface} shows {SECRET}"
    body = json.loads(member["api detail"])
    assert _value_at(body, path) == {"id": theirs, "name": None}

    # Whoever may see the linked record sees its name (the test can fail).
    admin_api = api_client_for(users["admin"])
    admin_body = admin_api.get(f"/api/v1/{type_key}/{record.pk}/").json()
    assert SECRET in _value_at(admin_body, path)["name"]
    if "." not in path:
        admin_pages = _page_client(users["admin"])
        assert SECRET in admin_pages.get(f"/{type_key}/{record.pk}/").content.decode()


@pytest.mark.parametrize("type_key", registry.keys())
def test_reference_custom_values_never_show_an_invisible_name(type_key, users, world, api_client_for):
    CustomField.objects.create(
        record_type=type_key, key="partner", label="Partner", field_type="reference", reference_type="companies"
    )
    data = {**_named(type_key, 900, "Linker"), "custom": {"partner": world["companies"]["theirs"]}}
    record = write(type_key, data, actor=users["member"])
    client = _page_client(users["member"])
    columns = ",".join([*(c.key for c in registry.get(type_key).columns), "cf_partner"])
    for url, params in [
        (f"/{type_key}/", {"columns": columns}),
        (f"/{type_key}/{record.pk}/", {}),
        (f"/{type_key}/{record.pk}/edit/", {}),
        (f"/{type_key}/export/", {"format": "csv"}),
    ]:
        text = _text(client.get(url, params))
        assert SECRET not in text, url
        assert f"#{world['companies']['theirs']}" in text, url
    assert SECRET in _page_client(users["admin"]).get(f"/{type_key}/{record.pk}/").content.decode()


def test_board_cards_timeline_and_quotes_hide_invisible_names(users, world, api_client_for):
    company, person = world["companies"]["theirs"], world["people"]["theirs"]
    deal = write(
        "deals",
        {
            "title": "Linker deal",
            "company": company,
            "contacts": [{"person": person, "role": "champion"}],
            # A line keeps its own name (copied from the product when it was written).
            "line_items": [{"product": world["products"]["theirs"], "name": "Seats", "quantity": "1"}],
        },
        actor=users["member"],
    )
    mine = world["people"]["mine"]
    write(
        "activities",
        {"kind": "note", "subject": "Linker note", "links": [{"type": "people", "id": mine}]},
        actor=users["member"],
    )
    shared = write(
        "activities",
        {
            "kind": "note",
            "subject": "Shared",
            "links": [{"type": "people", "id": mine}, {"type": "companies", "id": company}],
        },
        actor=users["member"],
    )
    client = _page_client(users["member"])
    pages = ["/deals/board/", f"/people/{mine}/", f"/people/{mine}/timeline/", f"/deals/{deal.pk}/"]
    for url in [*pages, f"/activities/{shared.pk}/", f"/activities/{shared.pk}/edit/"]:
        response = client.get(url)
        assert response.status_code in (200, 404), url
        assert SECRET not in response.content.decode(), url
    # A quote made from the deal by the member does not copy the invisible company's name.
    api = api_client_for(users["member"])
    quote = post(api, f"/api/v1/deals/{deal.pk}/quotes/", {})
    assert quote.status_code == 201, quote.content
    assert SECRET not in quote.content.decode()
    assert quote.json()["lines"][0]["product"] == {"id": world["products"]["theirs"], "name": None}


def test_search_entries_carry_a_company_name_only_within_its_team(users, teams, api_client_for):
    from rapport.core.models import SearchEntry

    company = write("companies", {"name": "Quokka Labs"}, actor=users["peer"])
    person = write("people", {"first_name": "Pat", "company": company.pk}, actor=users["member"])

    def body() -> str:
        return SearchEntry.objects.get(type_key="people", record_id=person.pk).body

    assert "Quokka" in body()  # same team: whoever finds Pat may see the company
    api = api_client_for(users["member"])
    found = api.get("/api/v1/search/", {"q": "Quokka"}).json()["results"]
    assert ("people", person.pk) in {(h["type"], h["id"]) for h in found}

    # The company's owner moves to team West: the company goes with them, and Pat's entry no
    # longer carries (nor is found by) its name.
    peer = users["peer"]
    peer.team = teams["west"]
    peer.save()
    services.sync_owner_team(peer)
    assert "Quokka" not in body()
    found = api.get("/api/v1/search/", {"q": "Quokka"}).json()["results"]
    assert found == []


@pytest.mark.parametrize("type_key", registry.keys())
def test_guessing_ids_tells_nothing(type_key, users, world, api_client_for):
    # Another team's record, a deleted one and one that never existed: the same answer on every
    # path that takes an id (the record's own endpoints and pages, and list filters by link).
    api = api_client_for(users["member"])
    pages = _page_client(users["member"])
    # (The member's own binned records stay theirs to read in the bin; here it is another team's.)
    binned = write(type_key, _named(type_key, 400, SECRET), actor=users["outsider"])
    services.delete_record(binned, actor=users["outsider"], source="system")
    ids = {**world[type_key], "gone": binned.pk}
    answers: dict[str, list[tuple[int, str]]] = {}
    for kind in ("theirs", "gone", "missing"):
        value = ids[kind]
        base = f"/api/v1/{type_key}/{value}/"
        answers[kind] = [
            _answer(api.get(base), value),
            _answer(patch(api, base, {"notes": "x"}), value),
            _answer(api.delete(base), value),
            _answer(api.get(f"{base}history/"), value),
            _answer(pages.get(f"/{type_key}/{value}/"), value),
            _answer(pages.get(f"/{type_key}/{value}/edit/"), value),
        ]
    assert answers["theirs"] == answers["gone"] == answers["missing"]
    assert {status for status, _ in answers["missing"]} == {404}
