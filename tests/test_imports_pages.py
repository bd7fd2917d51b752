"""The import pages: upload, mapping, dry run results with rejected rows, run, progress, undo, the CSV of
rejected rows; the Import button and the pages only for roles that may import; query counts pinned."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from rapport.contacts.models import Person
from rapport.imports import services
from rapport.imports.models import Import
from rapport.jobs.worker import Worker

CSV = (
    "First name,Last name,Mail,Note\n"
    "Ada,Lovelace,ada@example.com,first\n"
    '"=HYPERLINK(""http://x"")",Evil,not-an-email,"two\nlines"\n'
    "Grace,Hopper,grace@example.com,\n"
)


def login(client: Any, user: Any) -> Any:
    client.force_login(user)
    return client


def work() -> None:
    Worker(worker_id="pages").run_pending()


def test_upload_map_check_import_and_undo_through_the_pages(
    client: Any, users: Any, django_capture_on_commit_callbacks: Any
) -> None:
    login(client, users["manager"])
    page = client.get("/import/?type=people")
    assert page.status_code == 200
    assert b"No imports yet" in page.content
    answer = client.post("/import/", {"type": "people", "file": SimpleUploadedFile("fair.csv", CSV.encode())})
    imp = Import.objects.get()
    assert answer["Location"] == f"/import/{imp.pk}/"
    page = client.get(f"/import/{imp.pk}/").content.decode()
    assert 'name="target_2"' in page and "ada@example.com · not-an-email · grace@example.com" in page

    form = {"target_0": "first_name", "target_1": "last_name", "target_2": "emails", "target_3": "notes"}
    form |= {"match_field": "email", "on_match": "skip", "tag_separator": ",", "check": ""}
    form |= {"constant_field": ["source"], "constant_value": ["Fair 2026"]}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/import/{imp.pk}/mapping/", form)
    work()
    imp.refresh_from_db()
    assert (imp.status, imp.created, imp.rejected, imp.constants) == ("checked", 2, 1, {"source": "Fair 2026"})
    page = client.get(f"/import/{imp.pk}/").content.decode()
    assert "Import 2 valid rows" in page
    assert '<td>3</td><td>Mail</td><td class="cell-value">not-an-email</td>' in page

    rejected = client.get(f"/import/{imp.pk}/rejected.csv")
    rows = list(csv.reader(io.StringIO(b"".join(rejected.streaming_content).decode())))
    assert rows[0] == ["First name", "Last name", "Mail", "Note", "Error"]
    assert rows[1][:4] == ['\'=HYPERLINK("http://x")', "Evil", "not-an-email", "two\nlines"]
    assert rows[1][4].startswith("line 3: Mail: 'not-an-email' is not a valid email address")

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/import/{imp.pk}/run/")
    progress = client.get(f"/import/{imp.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 1s"' in progress and "Importing" in progress
    work()
    progress = client.get(f"/import/{imp.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert 'data-status="done"' in progress and "hx-trigger" not in progress
    assert sorted(Person.objects.live().values_list("source", flat=True)) == ["Fair 2026", "Fair 2026"]

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/import/{imp.pk}/undo/")
    work()
    assert Person.objects.live().count() == 0
    assert "Undone" in client.get("/import/").content.decode()


def test_the_import_button_and_pages_are_only_for_roles_that_may_import(client: Any, users: Any) -> None:
    login(client, users["manager"])
    assert b'href="/import/?type=people"' in client.get("/people/").content
    imp = services.create_import(
        actor=users["manager"], type_key="people", upload=io.BytesIO(CSV.encode()), filename="f.csv"
    )
    for role in ("member", "read-only"):
        client.force_login(users[role])
        assert b'href="/import/' not in client.get("/people/").content
        assert client.get("/import/").status_code == 404
        assert client.get(f"/import/{imp.pk}/").status_code == 404
        assert client.post(f"/import/{imp.pk}/run/").status_code == 404
    client.force_login(users["outsider"])
    assert client.get(f"/import/{imp.pk}/").status_code == 404


def test_a_file_that_cannot_be_read_is_refused_with_a_message(client: Any, users: Any) -> None:
    login(client, users["manager"])
    answer = client.post("/import/", {"type": "people", "file": SimpleUploadedFile("empty.csv", b"")}, follow=True)
    assert "empty.csv: The file is empty." in answer.content.decode()
    assert not Import.objects.exists()


def test_page_query_counts_are_pinned(client: Any, users: Any, django_assert_num_queries: Any) -> None:
    login(client, users["manager"])
    for _ in range(3):
        imp = services.create_import(
            actor=users["manager"], type_key="people", upload=io.BytesIO(CSV.encode()), filename="f.csv"
        )
    services.set_mapping(imp, actor=users["manager"], columns={"Mail": "emails"})
    imp = services.run_now(imp, dry_run=True)
    assert imp.rejected == 1
    # session, user, role; then the page ids and the imports
    with django_assert_num_queries(5):
        client.get("/import/")
    # + the import, custom fields (the targets), saved mappings, rejection page ids and rows
    with django_assert_num_queries(8):
        client.get(f"/import/{imp.pk}/")
    with django_assert_num_queries(4):  # the progress panel htmx polls
        client.get(f"/import/{imp.pk}/", headers={"HX-Request": "true"})
