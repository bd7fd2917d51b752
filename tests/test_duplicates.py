"""Duplicate detection: each signal of the finder with hand-computed evidence, the blocking of the scan,
the scan job, the review queue, the create form's warning and the API's opt-in check, and visibility
(another team's records never appear in a warning, the queue or the API)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from rapport.accounts.models import User
from rapport.contacts.models import Person
from rapport.core import customfields, registry, services
from rapport.core.models import AuditEntry
from rapport.duplicates import finder, names, queries
from rapport.duplicates import services as duplicates
from rapport.duplicates.models import DuplicateCandidate, DuplicateScan

from .conftest import write

PEOPLE = registry.get("people")
COMPANIES = registry.get("companies")


def spec(idents: dict[str, str] | None = None, rtype: Any = PEOPLE) -> finder.Spec:
    return finder.Spec(rtype, rtype.identity, idents or {})


def person(**data: Any) -> finder.Profile:
    return finder.profile_from_data(spec({"ssn": "social security number"}), data)


def evidence(a: dict[str, Any], b: dict[str, Any], *, rtype: Any = PEOPLE) -> tuple[float, list[str]]:
    s = spec({"ssn": "social security number"}, rtype)
    total, reasons = finder.evidence(finder.profile_from_data(s, a), finder.profile_from_data(s, b), s)
    return round(total, 3), reasons


def logistic(total: float) -> float:
    return round(1 / (1 + math.exp(-(total - 5.0) / 2.0)), 3)


# --- normalising -------------------------------------------------------------------------------------------
def test_names_fold_accents_case_and_nicknames() -> None:
    assert names.fold("  Zoë  O'Brien ") == "zoe o brien"
    assert names.fold("Müßig") == "mussig"
    assert names.given_name("Bob") == names.given_name("Robert") == "robert"
    assert names.given_name("Liz") == names.given_name("Elizabeth") == "elizabeth"
    assert names.given_name("Bill") == "william" and names.given_name("Kate") == "catherine"
    assert names.family_name("van der Berg") == "vanderberg"
    assert names.organisation_name("Acme Widgets GmbH & Co. KG") == "acme widgets"
    assert names.organisation_name("ACME, Inc.") == names.organisation_name("Acme Ltd") == "acme"
    assert names.identifier(" AB-12 34 ") == "ab1234"
    assert names.email_key("Grace.Hopper+crm@GoogleMail.com") == "gracehopper@gmail.com"
    assert names.street_key("12 Main St.") == "12 main street"


# --- each signal, with the evidence worked out from the weights ------------------------------------------------
def test_same_name_alone() -> None:
    # last name equal +3.5, first name equal +2.5
    assert evidence({"first_name": "Ada", "last_name": "Lovelace"}, {"first_name": "ada", "last_name": "LOVELACE"}) == (
        6.0,
        ["same name"],
    )
    assert logistic(6.0) == 0.622 == finder.score_of(6.0)


def test_nickname_counts_as_the_given_name() -> None:
    total, reasons = evidence(
        {"first_name": "Bob", "last_name": "Smith"}, {"first_name": "Robert", "last_name": "Smith"}
    )
    assert (total, reasons) == (6.0, ["similar name"])


def test_typo_in_the_given_name() -> None:
    # Jaro-Winkler(jonathan, jonathon): 7 of 8 letters match, no transposition: (7/8 + 7/8 + 1) / 3 = 0.9167,
    # common prefix 4: 0.9167 + 4 × 0.1 × 0.0833 = 0.95 ≥ 0.92 → +1.8; last name equal +3.5
    total, reasons = evidence(
        {"first_name": "Jonathan", "last_name": "Hopper"}, {"first_name": "Jonathon", "last_name": "Hopper"}
    )
    assert (total, reasons) == (5.3, ["similar name"])
    assert finder.score_of(total) == logistic(5.3) == 0.537


def test_transposition_in_the_family_name() -> None:
    # JW(smith, smtih): 5 matches, one transposition: (1 + 1 + 4/5) / 3 = 0.9333, prefix 2 → 0.9467 → +2.5
    total, reasons = evidence({"first_name": "Ada", "last_name": "Smith"}, {"first_name": "Ada", "last_name": "Smtih"})
    assert (total, reasons) == (5.0, ["similar name"])
    assert finder.score_of(total) == 0.5 >= finder.THRESHOLD


def test_accents_are_folded() -> None:
    assert evidence({"first_name": "Zoë", "last_name": "Müller"}, {"first_name": "Zoe", "last_name": "Muller"}) == (
        6.0,
        ["same name"],
    )


def test_swapped_first_and_last_names() -> None:
    assert evidence({"first_name": "Lovelace", "last_name": "Ada"}, {"first_name": "Ada", "last_name": "Lovelace"}) == (
        6.0,
        ["names swapped"],
    )


def test_different_people_with_one_name_in_common() -> None:
    # same last name +3.5, different given names (JW(ada, grace) < 0.85) −2.0
    assert evidence({"first_name": "Ada", "last_name": "Hopper"}, {"first_name": "Grace", "last_name": "Hopper"}) == (
        1.5,
        ["same last name"],
    )


def test_email_case_and_tags_are_one_mailbox() -> None:
    # same email +7; no names on one side: nothing from names
    assert evidence({"emails": ["Grace@Navy.Example.org"]}, {"emails": [{"email": "grace+crm@navy.example.org"}]}) == (
        7.0,
        ["same email"],
    )


def test_phone_in_any_position_and_reasons_strongest_first() -> None:
    # same phone +5 (E.164 as the serializer stores it), same family name +3.5, no given name on one side
    total, reasons = evidence(
        {"last_name": "Hopper", "phones": ["+14155550199", "+14155550100"]},
        {"first_name": "Grace", "last_name": "Hopper", "phones": [{"number": "+14155550100"}]},
    )
    assert (total, reasons) == (8.5, ["same phone", "same last name"])


def test_different_emails_and_phones_weigh_against() -> None:
    # same name +6, different email −0.75, different phone −0.75 = 4.5 < 5: not a likely duplicate
    total, _ = evidence(
        {"first_name": "Ada", "last_name": "Lee", "emails": ["a@x.example"], "phones": ["+14155550100"]},
        {"first_name": "Ada", "last_name": "Lee", "emails": ["b@y.example"], "phones": ["+14155550111"]},
    )
    assert total == 4.5 and finder.score_of(total) < finder.THRESHOLD


def test_postal_address_and_identifier() -> None:
    # same name +6, same postal code +1.5, street "12 Main St." = "12 main street" +3.5, same city +0.8,
    # same identifier +8
    total, reasons = evidence(
        {"first_name": "Ada", "last_name": "Lee", "street": "12 Main St.", "postal_code": "SW1A 1AA",
         "city": "London", "custom": {"ssn": "123-45-6789"}},
        {"first_name": "Ada", "last_name": "Lee", "street": "12 main street", "postal_code": "sw1a1aa",
         "city": "LONDON", "custom": {"ssn": "123456789"}},
    )  # fmt: skip
    assert total == 19.8
    assert reasons == [
        "same social security number",
        "same name",
        "same street address",
        "same postal code",
        "same city",
    ]


def test_identifier_one_typo_away_and_different() -> None:
    similar = evidence({"custom": {"ssn": "1234567"}}, {"custom": {"ssn": "1234576"}})
    assert similar == (4.0, ["similar social security number"])
    assert evidence({"custom": {"ssn": "1234567"}}, {"custom": {"ssn": "7654321"}}) == (-1.5, [])


def test_companies_by_name_without_legal_form_and_domain() -> None:
    assert evidence({"name": "ACME, Inc."}, {"name": "Acme Ltd"}, rtype=COMPANIES) == (5.5, ["same name"])
    # same domain +7, same name +5.5
    assert evidence(
        {"name": "Acme", "domain": "acme.com"}, {"name": "Acme GmbH", "domain": "acme.com"}, rtype=COMPANIES
    ) == (
        12.5,
        ["same domain", "same name"],
    )


def test_company_of_a_person() -> None:
    # same name +6, same company +1.5
    a = person(first_name="Ada", last_name="Lee")
    b = person(first_name="Ada", last_name="Lee")
    a.company_id = b.company_id = 7
    s = spec({"ssn": "social security number"})
    assert finder.evidence(a, b, s) == (7.5, ["same name", "same company"])
    b.company_id, a.company, b.company = 8, "acme", "acme"
    assert finder.evidence(a, b, s) == (7.0, ["same name", "similar company name"])


# --- blocking ----------------------------------------------------------------------------------------------
def test_blocking_finds_every_pair_an_exact_key_gives() -> None:
    """Records sharing an email, phone or identifier are compared however far apart their names sort."""
    s = spec({"ssn": "SSN"})
    rows = [{"first_name": f"Name{i:03d}", "last_name": f"{chr(65 + i % 26)}son{i}"} for i in range(200)]
    rows[3]["phones"] = rows[190]["phones"] = ["+14155550100"]
    rows[10]["emails"] = rows[150]["emails"] = ["same@example.com"]
    rows[20]["custom"] = rows[120]["custom"] = {"ssn": "99-1"}
    profiles = []
    for i, row in enumerate(rows, start=1):
        p = finder.profile_from_data(s, row)
        p.id = i
        profiles.append(p)
    pairs = {(min(i, j), max(i, j)) for i, j in finder.candidate_pairs(profiles, s, window=3)}
    assert {(3, 190), (10, 150), (20, 120)} <= pairs
    assert len(pairs) < 200 * 199 // 2 // 10  # far from all pairs


def test_sorted_neighbourhood_finds_typos() -> None:
    s = spec()
    rows = [{"first_name": f"Given{i}", "last_name": f"Family{i:04d}"} for i in range(500)]
    rows.append({"first_name": "Given77", "last_name": "Fmaily0077"})  # a transposition early in the name
    profiles = {}
    for i, row in enumerate(rows, start=1):
        p = finder.profile_from_data(s, row)
        p.id = i
        profiles[i] = p
    found = finder.scan(s, profiles, window=4)
    assert (78, 501) in found


# --- the database: checks, visibility, scan, queue ----------------------------------------------------------
@pytest.fixture
def grace(users: dict[str, User]) -> Person:
    return write(
        "people",
        {
            "first_name": "Grace",
            "last_name": "Hopper",
            "emails": ["grace@navy.example.org"],
            "phones": ["+1 415 555 0199"],
            "street": "1 Navy Yard",
            "postal_code": "20374",
            "city": "Washington",
        },
        actor=users["member"],
    )


def test_likely_duplicates_by_phone_in_another_format(users: dict[str, User], grace: Person) -> None:
    data = {"first_name": "G.", "last_name": "Hopper", "phones": ["(415) 555-0199"]}
    serializer = PEOPLE.get_serializer_class()(data=data, context={"actor": users["member"]})
    assert serializer.is_valid(), serializer.errors
    matches = finder.likely_duplicates(PEOPLE, serializer.validated_data, actor=users["member"])
    # same phone +5, last name +3.5, initial "g" against "grace" (0.85) +0.8: 9.3
    assert matches == [finder.Match(grace.pk, finder.score_of(9.3), ("same phone", "similar name"), "Grace Hopper")]
    assert matches[0].reason_text == "same phone, similar name"


def test_threshold_leaves_out_weak_matches(users: dict[str, User], grace: Person) -> None:
    data = {"first_name": "Grace", "last_name": "Kelly"}  # same given name only: 2.5 − 2.5 = 0
    assert finder.likely_duplicates(PEOPLE, data, actor=users["member"]) == []
    assert finder.likely_duplicates(PEOPLE, {"first_name": "Grace", "last_name": "Hopper"}, actor=users["member"])


def test_exclude_id_and_bulk_variant(users: dict[str, User], grace: Person) -> None:
    rows = [{"first_name": "Grace", "last_name": "Hopper"}, {"first_name": "Nobody", "last_name": "Here"}]
    many = finder.likely_duplicates_many(PEOPLE, rows, actor=users["member"])
    assert [[m.record_id for m in ms] for ms in many] == [[grace.pk], []]
    assert finder.likely_duplicates(PEOPLE, rows[0], actor=users["member"], exclude_id=grace.pk) == []


def test_another_teams_records_never_match(users: dict[str, User], grace: Person) -> None:
    data = {"first_name": "Grace", "last_name": "Hopper", "phones": ["+14155550199"]}
    assert finder.likely_duplicates(PEOPLE, data, actor=users["outsider"]) == []
    assert [m.record_id for m in finder.likely_duplicates(PEOPLE, data, actor=users["admin"])] == [grace.pk]


def test_identifier_custom_field_is_matched(users: dict[str, User], grace: Person) -> None:
    field = customfields.create_field(
        "people", "ssn", {"label": "SSN", "field_type": "text", "is_identifier": True}, actor=users["admin"]
    )
    assert AuditEntry.objects.filter(kind="custom_field").last().changes["is_identifier"] == [None, True]
    write("people", {"custom": {"ssn": "078-05-1120"}}, actor=users["member"], instance=grace)
    matches = finder.likely_duplicates(
        PEOPLE, {"last_name": "Doe", "custom": {"ssn": "078-05-1120"}}, actor=users["member"]
    )
    # same SSN +8, different family name −2.5
    assert [(m.record_id, m.reasons) for m in matches] == [(grace.pk, ("same SSN",))]
    customfields.update_field(field, {"is_identifier": False}, actor=users["admin"])
    assert AuditEntry.objects.filter(kind="custom_field").last().changes == {"is_identifier": [True, False]}


def _pair(users: dict[str, User], grace: Person, team_user: str = "member") -> Person:
    return write(
        "people",
        {"first_name": "Grace", "last_name": "Hoper", "phones": ["+14155550199"], "postal_code": "20374"},
        actor=users[team_user],
    )


def test_scan_finds_pairs_and_is_idempotent(users: dict[str, User], grace: Person) -> None:
    other = _pair(users, grace)
    write("people", {"first_name": "Alan", "last_name": "Turing"}, actor=users["member"])
    scan, created = duplicates.start_scan(actor=users["admin"])
    assert created and duplicates.start_scan(actor=users["admin"]) == (scan, False)
    done = duplicates.run_scan(scan.pk)
    assert (done.status, done.total, done.found, done.added) == ("done", 3, 1, 1)
    pair = DuplicateCandidate.objects.get()
    assert (pair.record_a, pair.record_b, pair.found_by) == (grace.pk, other.pk, "scan")
    # same phone +5, similar name (JW(hopper, hoper) = 0.961 → +2.5, given equal +2.5), same postal code +1.5
    assert pair.score == finder.score_of(11.5)
    assert pair.reasons == ["same phone", "similar name", "same postal code"]
    again, _ = duplicates.start_scan(actor=users["admin"])
    assert duplicates.run_scan(again.pk).added == 0
    assert DuplicateCandidate.objects.count() == 1


def test_dismissed_pairs_stay_dismissed(users: dict[str, User], grace: Person) -> None:
    _pair(users, grace)
    duplicates.run_scan(duplicates.start_scan(actor=users["admin"])[0].pk)
    pair = DuplicateCandidate.objects.get()
    duplicates.dismiss(pair, actor=users["member"])
    duplicates.run_scan(duplicates.start_scan(actor=users["admin"], full=True)[0].pk)
    pair.refresh_from_db()
    assert pair.status == "dismissed" and pair.dismissed_by == users["member"]
    assert not queries.visible_pairs(users["admin"]).exists()


def test_incremental_scan_compares_only_changes(users: dict[str, User], grace: Person) -> None:
    duplicates.run_scan(duplicates.start_scan(actor=users["admin"])[0].pk)
    _pair(users, grace)
    scan, _ = duplicates.start_scan(actor=users["admin"], full=False)
    done = duplicates.run_scan(scan.pk)
    assert done.since is not None and done.added == 1


def test_scan_job_runs_through_the_queue(
    users: dict[str, User], grace: Person, django_capture_on_commit_callbacks: Any
) -> None:
    from rapport.duplicates import tasks
    from rapport.jobs.worker import Worker

    _pair(users, grace)
    client = Client()
    client.force_login(users["admin"])
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/duplicates/scan/").status_code == 302
    Worker(worker_id="test-worker").run_pending()
    scan = DuplicateScan.objects.get()
    assert (scan.status, scan.found, scan.percent) == ("done", 1, 100)
    assert tasks.nightly_duplicate_scan.call() == 0  # incremental: nothing changed since the last scan
    assert DuplicateCandidate.objects.count() == 1


def test_queue_visibility_and_binned_records(users: dict[str, User], grace: Person) -> None:
    other = _pair(users, grace, "outsider")  # another team's record
    duplicates.run_scan(duplicates.start_scan(actor=users["admin"])[0].pk)
    assert queries.visible_pairs(users["admin"]).count() == 1
    assert queries.visible_pairs(users["member"]).count() == 0
    assert queries.visible_pairs(users["outsider"]).count() == 0
    page = Client()
    page.force_login(users["member"])
    html = page.get("/duplicates/").content.decode()
    assert "Hoper" not in html and "No likely duplicates" in html
    services.delete_record(other, actor=users["admin"], source="ui")
    assert queries.visible_pairs(users["admin"]).count() == 0


def test_queue_page_and_not_a_duplicate(users: dict[str, User], grace: Person) -> None:
    other = _pair(users, grace)
    duplicates.run_scan(duplicates.start_scan(actor=users["admin"])[0].pk)
    pair = DuplicateCandidate.objects.get()
    client = Client()
    client.force_login(users["member"])
    html = client.get("/duplicates/?type=people").content.decode()
    assert "Grace Hopper" in html and "Grace Hoper" in html and "Same phone, similar name, same postal code" in html
    assert f"/duplicates/merge/people/?ids={grace.pk},{other.pk}" in html
    assert "Not a duplicate" in html and "Scan now" not in html
    assert client.get("/duplicates/?type=deals").status_code == 400
    reader = Client()
    reader.force_login(users["read-only"])
    html = reader.get("/duplicates/").content.decode()
    assert "Grace Hoper" in html and "Not a duplicate" not in html and "Review and merge" not in html
    assert reader.post(f"/duplicates/{pair.pk}/dismiss/").status_code == 403
    outsider = Client()
    outsider.force_login(users["outsider"])
    assert outsider.post(f"/duplicates/{pair.pk}/dismiss/").status_code == 404
    response = client.post(f"/duplicates/{pair.pk}/dismiss/", {"next": "/duplicates/"})
    assert response.status_code == 302
    pair.refresh_from_db()
    assert pair.status == "dismissed"
    assert "No likely duplicates" in client.get("/duplicates/").content.decode()


def test_queue_query_count_does_not_grow_with_pairs(users: dict[str, User], grace: Person) -> None:
    client = Client()
    client.force_login(users["member"])

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/duplicates/").status_code == 200
        return len(ctx.captured_queries)

    _pair(users, grace)
    duplicates.run_scan(duplicates.start_scan(actor=users["admin"])[0].pk)
    one = count()
    for i in range(3):
        write(
            "people",
            {"first_name": "Alan", "last_name": "Turing", "phones": [f"+1415555020{i}"]},
            actor=users["member"],
        )
        write(
            "people", {"first_name": "Alan", "last_name": "Turin", "phones": [f"+1415555020{i}"]}, actor=users["member"]
        )
    duplicates.run_scan(duplicates.start_scan(actor=users["admin"])[0].pk)
    assert queries.visible_pairs(users["member"]).count() >= 4
    assert count() == one == 9  # session, user, pairs page, pairs, people, emails, phones, definitions ×2


def test_scan_now_is_for_administrators(users: dict[str, User]) -> None:
    client = Client()
    client.force_login(users["manager"])
    assert client.post("/duplicates/scan/").status_code == 403
    client.force_login(users["admin"])
    assert client.post("/duplicates/scan/").status_code == 302
    scan = DuplicateScan.objects.get()
    assert client.get(f"/duplicates/scan/{scan.pk}/").status_code == 200
    assert "Scan now" in client.get("/duplicates/").content.decode()


# --- the create form ------------------------------------------------------------------------------------------
def test_create_form_warns_and_create_anyway_keeps_the_values(users: dict[str, User], grace: Person) -> None:
    client = Client()
    client.force_login(users["member"])
    form = {
        "first_name": "Grace",
        "last_name": "Hoper",
        "emails": "g.hopper@example.com",
        "phones": "+1 415 555 0199",
        "lifecycle_stage": "lead",
        "job_title": "Admiral",
    }
    response = client.post("/people/new/", form)
    html = response.content.decode()
    assert response.status_code == 200 and "may already exist" in html and "Create anyway" in html
    assert f'href="/people/{grace.pk}/"' in html and "same phone" in html
    assert 'value="Admiral"' in html and 'value="g.hopper@example.com"' in html  # every typed value kept
    assert Person.objects.count() == 1
    response = client.post("/people/new/", {**form, "create_anyway": "1"})
    assert response.status_code == 302
    created = Person.objects.exclude(pk=grace.pk).get()
    pair = DuplicateCandidate.objects.get()
    assert (pair.record_a, pair.record_b, pair.found_by) == (grace.pk, created.pk, "create")


def test_create_form_shows_no_other_teams_record(users: dict[str, User], grace: Person) -> None:
    client = Client()
    client.force_login(users["outsider"])
    response = client.post("/people/new/", {"first_name": "Grace", "last_name": "Hopper", "phones": "+1 415 555 0199"})
    assert response.status_code == 302  # nothing they may see looks alike: created at once


# --- the API -----------------------------------------------------------------------------------------------
def test_api_create_with_check_answers_409(users: dict[str, User], grace: Person, api_client_for: Any) -> None:
    api = api_client_for(users["member"])
    body = {"first_name": "Grace", "last_name": "Hopper", "phones": ["+1 415 555 0199"]}
    response = api.post("/api/v1/people/?check_duplicates=true", body, content_type="application/json")
    assert response.status_code == 409
    answer = response.json()
    assert answer["error"] == "likely_duplicates"
    # same phone +5, same name +6
    assert answer["matches"] == [
        {
            "id": grace.pk,
            "name": "Grace Hopper",
            "url": f"/api/v1/people/{grace.pk}/",
            "score": finder.score_of(11.0),
            "reasons": ["same name", "same phone"],
        }
    ]
    assert Person.objects.count() == 1
    assert api.post("/api/v1/people/?check_duplicates=maybe", body, content_type="application/json").status_code == 400
    assert api.post("/api/v1/people/", body, content_type="application/json").status_code == 201
    outsider = api_client_for(users["outsider"])
    response = outsider.post(
        "/api/v1/people/?check_duplicates=true",
        {"first_name": "Grace", "last_name": "Hopper"},
        content_type="application/json",
    )
    assert response.status_code == 201


def test_api_check_endpoint(users: dict[str, User], grace: Person, api_client_for: Any) -> None:
    api = api_client_for(users["member"])
    response = api.post(
        "/api/v1/people/duplicates/", {"emails": ["GRACE@navy.example.org"]}, content_type="application/json"
    )
    assert response.status_code == 200
    assert [(m["id"], m["reasons"]) for m in response.json()["results"]] == [(grace.pk, ["same email"])]
    bad = api.post("/api/v1/people/duplicates/", {"emails": ["not an email"]}, content_type="application/json")
    assert bad.status_code == 400
    outsider = api_client_for(users["outsider"])
    response = outsider.post(
        "/api/v1/people/duplicates/", {"emails": ["grace@navy.example.org"]}, content_type="application/json"
    )
    assert response.json() == {"results": []}
    companies = api.post("/api/v1/companies/duplicates/", {"name": "Nothing Alike"}, content_type="application/json")
    assert companies.json() == {"results": []}


def test_api_queue_and_dismiss(users: dict[str, User], grace: Person, api_client_for: Any) -> None:
    other = _pair(users, grace)
    duplicates.run_scan(duplicates.start_scan(actor=users["admin"])[0].pk)
    api = api_client_for(users["member"])
    page = api.get("/api/v1/duplicates/?type=people").json()
    assert [(p["ids"], p["names"]) for p in page["results"]] == [
        ([grace.pk, other.pk], ["Grace Hopper", "Grace Hoper"])
    ]
    assert api_client_for(users["outsider"]).get("/api/v1/duplicates/").json()["results"] == []
    assert api.get("/api/v1/duplicates/?colour=red").status_code == 400
    pair_id = page["results"][0]["id"]
    assert api_client_for(users["outsider"]).post(f"/api/v1/duplicates/{pair_id}/dismiss/").status_code == 404
    assert api_client_for(users["read-only"]).post(f"/api/v1/duplicates/{pair_id}/dismiss/").status_code == 403
    assert api.post(f"/api/v1/duplicates/{pair_id}/dismiss/").status_code == 200
    assert api.get("/api/v1/duplicates/").json()["results"] == []


def test_api_custom_field_identifier(users: dict[str, User], api_client_for: Any) -> None:
    api = api_client_for(users["admin"])
    body = {
        "record_type": "people",
        "key": "passport",
        "label": "Passport",
        "field_type": "text",
        "is_identifier": True,
    }
    created = api.post("/api/v1/custom-fields/", body, content_type="application/json").json()
    assert created["is_identifier"] is True
    changed = api.patch(
        f"/api/v1/custom-fields/{created['id']}/", {"is_identifier": False}, content_type="application/json"
    )
    assert changed.json()["is_identifier"] is False


def test_person_postal_address_through_the_api(users: dict[str, User], api_client_for: Any) -> None:
    api = api_client_for(users["member"])
    body = {
        "first_name": "Ada",
        "street": "12 Main St",
        "city": "London",
        "postal_code": "N1 9GU",
        "region": "Greater London",
        "country": "United Kingdom",
    }
    created = api.post("/api/v1/people/", body, content_type="application/json").json()
    assert {k: created[k] for k in ("street", "city", "postal_code", "region", "country")} == {
        k: v for k, v in body.items() if k != "first_name"
    }
    bad = api.post("/api/v1/people/", {"first_name": "Ada", "street": "line\nbreak"}, content_type="application/json")
    assert bad.status_code == 400 and "street" in bad.json()["fields"]
    long = api.post("/api/v1/people/", {"first_name": "Ada", "postal_code": "9" * 21}, content_type="application/json")
    assert long.status_code == 400 and "postal_code" in long.json()["fields"]
    listed = api.get("/api/v1/people/?city=London").json()["results"]
    assert [r["id"] for r in listed] == [created["id"]]


def test_check_finds_a_nickname_among_many_of_the_same_family_name(users: dict[str, User], monkeypatch: Any) -> None:
    """The candidate reads are bounded; a common family name does not crowd out the match."""
    monkeypatch.setattr(finder, "CANDIDATES_PER_QUERY", 3)
    for given in ("Ann", "Carl", "Dora", "Emil", "Finn"):
        write("people", {"first_name": given, "last_name": "Smith"}, actor=users["member"])
    robert = write("people", {"first_name": "Robert", "last_name": "Smith"}, actor=users["member"])
    matches = finder.likely_duplicates(PEOPLE, {"first_name": "Bob", "last_name": "SMITH"}, actor=users["member"])
    # given name through the nickname table +2.5, family name +3.5
    assert [(m.record_id, m.score, m.reasons) for m in matches] == [(robert.pk, 0.622, ("similar name",))]
