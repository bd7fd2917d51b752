"""The imports API: upload, mapping, dry run, run, rejections, cancel, undo; permissions and query counts.
Every answer is checked against the published schema (tests/schema_check.py)."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from rapport.contacts.models import Person
from rapport.imports.models import Import

CSV = (
    b"Full name,Reach,Lifecycle stage\n"
    b"Ada Lovelace,ada@example.com,customer\nBob,bad,lead\nCy Young,cy@example.com,nope\n"
)


def upload(client: Any, text: bytes = CSV, type_key: str = "people") -> Any:
    return client.post("/api/v1/imports/", {"file": SimpleUploadedFile("list.csv", text, "text/csv"), "type": type_key})


def test_upload_map_check_run_and_undo(
    api_client_for: Any, users: Any, django_capture_on_commit_callbacks: Any, django_assert_num_queries: Any
) -> None:
    client = api_client_for(users["manager"])
    answer = upload(client)
    assert answer.status_code == 201, answer.content
    imp = answer.json()
    assert answer["Location"] == f"/api/v1/imports/{imp['id']}/"
    assert (imp["status"], imp["type"], imp["filename"]) == ("uploaded", "people", "list.csv")
    base = f"/api/v1/imports/{imp['id']}/"

    mapping = client.get(base + "mapping/").json()
    assert [(c["header"], c["target"], c["sample"]) for c in mapping["columns"]] == [
        ("Full name", "full_name", ["Ada Lovelace", "Bob", "Cy Young"]),
        ("Reach", "", ["ada@example.com", "bad", "cy@example.com"]),
        ("Lifecycle stage", "lifecycle_stage", ["customer", "lead", "nope"]),
    ]
    assert mapping["match_field"] == "email"
    changed = client.patch(
        base + "mapping/", {"columns": {"Reach": "emails"}, "save_as": "Fair"}, content_type="application/json"
    )
    assert changed.status_code == 200, changed.content
    assert [c["target"] for c in changed.json()["columns"]] == ["full_name", "emails", "lifecycle_stage"]
    assert changed.json()["saved_mappings"] == ["Fair"]

    from rapport.jobs.worker import Worker

    with django_capture_on_commit_callbacks(execute=True):
        checked = client.post(base + "check/")
    assert checked.status_code == 202
    Worker(worker_id="t").run_pending()
    imp = client.get(base).json()
    assert (imp["status"], imp["total"], imp["created"], imp["rejected"]) == ("checked", 3, 1, 2)
    with django_assert_num_queries(5):  # token, rate counter, import, page ids, rows
        rejections = client.get(base + "rejections/").json()["results"]
    assert [(r["line"], r["column"], r["value"]) for r in rejections] == [
        (3, "Reach", "bad"),
        (4, "Lifecycle stage", "nope"),
    ]
    assert Person.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(base + "run/").status_code == 202
    Worker(worker_id="t").run_pending()
    imp = client.get(base).json()
    assert (imp["status"], imp["created"], imp["rejected"], imp["percent"]) == ("done", 1, 2, 100)
    assert Person.objects.live().get().primary_email == "ada@example.com"

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(base + "undo/").status_code == 202
    Worker(worker_id="t").run_pending()
    assert client.get(base).json()["status"] == "undone"
    assert Person.objects.live().count() == 0


def test_bad_input_is_a_400_naming_the_field(api_client_for: Any, users: Any) -> None:
    client = api_client_for(users["manager"])
    assert upload(client, type_key="nope").json()["fields"] == {"type": ["choose a type of record you may import."]}
    empty = upload(client, b"")
    assert empty.status_code == 400 and "file" in empty.json()["fields"]
    imp = upload(client).json()
    bad = client.patch(
        f"/api/v1/imports/{imp['id']}/mapping/", {"mapping": ["nonsense", "", ""]}, content_type="application/json"
    )
    assert bad.status_code == 400 and "mapping" in bad.json()["fields"]
    run = client.post(f"/api/v1/imports/{imp['id']}/run/")
    assert run.status_code == 400 and run.json()["fields"] == {"status": ["run the dry run first."]}


def test_a_role_without_import_and_other_users_get_no_import(api_client_for: Any, users: Any) -> None:
    imp = upload(api_client_for(users["manager"])).json()
    member = api_client_for(users["member"])
    assert upload(member).status_code == 400
    assert member.get(f"/api/v1/imports/{imp['id']}/").status_code == 404
    assert member.get("/api/v1/imports/").json()["results"] == []
    admin = api_client_for(users["admin"])
    assert admin.get(f"/api/v1/imports/{imp['id']}/").status_code == 200


def test_query_counts_are_pinned(api_client_for: Any, users: Any, django_assert_num_queries: Any) -> None:
    client = api_client_for(users["manager"])
    for _ in range(3):
        upload(client)
    imp = Import.objects.order_by("-id").first()
    assert imp is not None
    # token with its user, rate counter, then the page's ids and rows (or the one import)
    with django_assert_num_queries(4):
        client.get("/api/v1/imports/")
    with django_assert_num_queries(3):
        client.get(f"/api/v1/imports/{imp.pk}/")
    with django_assert_num_queries(4):  # no rejections: the ids query finds none
        client.get(f"/api/v1/imports/{imp.pk}/rejections/")
