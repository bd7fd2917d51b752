"""Import defects fixed in issue 9's second round: the dry run's count of rows that change nothing, undo
of a person's phones with their kind, products matched by SKU, a full export loaded back with each row
validated once, and the bulk write path (ids, events and search entries written in bulk)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from rapport.contacts.models import Person
from rapport.core import search
from rapport.core.models import Event, SearchEntry
from rapport.imports import fullexport, fullload, services
from rapport.imports.models import Import, ImportChange
from rapport.quotes.models import Product

from .conftest import write
from .test_full_roundtrip import empty_installation
from .test_imports import rejections, run, upload


def counts(imp: Import) -> tuple[int, int, int, int]:
    return (imp.created, imp.updated, imp.skipped, imp.rejected)


def test_dry_run_counts_a_matching_row_that_changes_nothing_as_skipped_like_the_import(
    users: Any, person: Person
) -> None:
    manager = users["manager"]
    # Ada (ada@acme.com, last name Lovelace, no job title) exists. Row 2 says nothing new about her,
    # row 3 gives her a job title, row 4 is a new person.
    text = (
        "Email,Last name,Job title\n"
        "ada@acme.com,Lovelace,\n"
        "ADA@acme.com,Lovelace,Countess\n"
        "new@example.com,Newman,Engineer\n"
    )
    same = "Email,Last name\nada@acme.com,Lovelace\nnew2@example.com,Newer\n"
    events = Event.objects.count()
    dry = services.run_now(_mapped(manager, same), dry_run=True)
    # One new person, Ada unchanged: skipped, not "to update".
    assert counts(dry) == (1, 0, 1, 0), rejections(dry)
    assert Event.objects.count() == events  # the trial write was rolled back
    person.refresh_from_db()
    assert person.version == 1
    done = services.run_now(dry)
    assert counts(done) == (1, 0, 1, 0)

    # Rows 2 and 3 are one group (same email): merged, Ada gets the job title: 1 updated, 1 skipped.
    dry = services.run_now(_mapped(manager, text), dry_run=True)
    assert counts(dry) == (1, 1, 1, 0)
    person.refresh_from_db()
    assert person.job_title == ""
    done = services.run_now(dry)
    assert counts(done) == (1, 1, 1, 0)
    person.refresh_from_db()
    assert person.job_title == "Countess"


def _mapped(actor: Any, text: str) -> Import:
    imp = upload(actor, text)
    return services.set_mapping(imp, actor=actor, on_match="update")


def test_dry_run_rejects_a_matching_row_the_write_would_refuse(users: Any, person: Person) -> None:
    manager = users["manager"]
    write("people", {"first_name": "Grace", "emails": ["grace@acme.com"]}, actor=users["member"])
    # Ada's row gives her Grace's address as a second email: the write refuses it (unique address).
    imp = upload(manager, "Email,Email 2\nada@acme.com,grace@acme.com\n")
    imp = services.set_mapping(imp, actor=manager, mapping=["emails", "emails"], on_match="update")
    dry = services.run_now(imp, dry_run=True)
    assert counts(dry) == (0, 0, 0, 1)
    assert [(r[0], r[3]) for r in rejections(dry)] == [(2, "grace@acme.com belongs to another person.")]


def test_undo_gives_a_person_back_her_phones_with_their_kind(users: Any) -> None:
    manager = users["manager"]
    ada = write(
        "people",
        {
            "first_name": "Ada",
            "emails": ["ada@acme.com"],
            "phones": [
                {"number": "+44 20 7946 0000", "kind": "mobile"},
                {"number": "+44 20 7946 0999", "kind": "home"},
            ],
        },
        actor=users["member"],
    )
    imp = run(upload(manager, "Email,Phone\nada@acme.com,+44 20 7946 0001\n"), on_match="update")
    assert counts(imp) == (0, 1, 0, 0)
    assert list(ada.phones.values_list("number", "kind")) == [("+442079460001", "work")]
    change = ImportChange.objects.get(job=imp, action="updated")
    assert change.before == {
        "phones": [
            {"number": "+442079460000", "kind": "mobile", "primary": True},
            {"number": "+442079460999", "kind": "home", "primary": False},
        ]
    }
    imp = services.run_undo(services.start_undo(imp, actor=manager).pk)
    assert (imp.status, imp.undo_conflicts) == (Import.UNDONE, 0)
    assert list(Person.objects.get(pk=ada.pk).phones.values_list("number", "kind", "is_primary")) == [
        ("+442079460000", "mobile", True),
        ("+442079460999", "home", False),
    ]


def test_products_are_matched_on_their_sku(users: Any) -> None:
    admin = users["admin"]
    first = run(upload(admin, "Name,SKU,Tax rate\nWidget,W-1,20\nGizmo,,10\n", type_key="products"))
    assert first.match_field == "sku"
    assert counts(first) == (2, 0, 0, 0)
    # The same SKU again: skipped by default (a product without a SKU matches nothing: created again).
    again = run(upload(admin, "Name,SKU,Tax rate\nWidget,W-1,20\nGizmo,,10\n", type_key="products"))
    assert counts(again) == (1, 0, 1, 0)
    update = run(
        upload(admin, "Name,SKU,Tax rate\nWidget Pro,W-1,20\nSprocket,S-9,5\n", type_key="products"),
        on_match="update",
    )
    assert counts(update) == (1, 1, 0, 0)
    assert sorted(Product.objects.live().values_list("sku", "name")) == [
        ("", "Gizmo"),
        ("", "Gizmo"),
        ("S-9", "Sprocket"),
        ("W-1", "Widget Pro"),
    ]


def test_an_import_without_a_dry_run_validates_each_row_once(users: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = services.Work.validated

    def counting(self: Any, payload: dict[str, Any], instance: Any) -> Any:
        calls.append(1)
        return original(self, payload, instance)

    monkeypatch.setattr(services.Work, "validated", counting)
    text = "First name,Email\nAda,ada@example.com\nGrace,grace@example.com\nAlan,not-an-email\n"
    checked = services.run_now(upload(users["manager"], text.replace("ada@", "ada2@").replace("grace@", "g2@")))
    assert (counts(checked), len(calls)) == ((2, 0, 0, 1), 6)  # dry run and import: 3 rows, twice
    calls.clear()
    imp = services.run_now(upload(users["manager"], text), check=False)
    assert (imp.status, imp.total, counts(imp), len(calls)) == (Import.DONE, 3, (2, 0, 0, 1), 3)
    assert rejections(imp)[0][:3] == (4, "Email", "not-an-email")


def test_a_full_export_loads_back_with_each_row_validated_once(
    users: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = users["admin"]
    write("companies", {"name": "Acme"}, actor=admin)
    write("people", {"first_name": "Ada", "emails": ["ada@acme.com"]}, actor=admin)
    write("people", {"first_name": "Grace", "emails": ["grace@acme.com"]}, actor=admin)
    path = tmp_path / "all.zip"
    with open(path, "wb") as handle:
        fullexport.write_full_export(handle, user=admin)
    empty_installation(keep={"admin"})
    calls: list[str] = []
    original = services.Work.validated

    def counting(self: Any, payload: dict[str, Any], instance: Any) -> Any:
        calls.append(self.rtype.key)
        return original(self, payload, instance)

    monkeypatch.setattr(services.Work, "validated", counting)
    result = fullload.load_full_export(path, actor=get_user_model().objects.get(username="admin"))
    assert result.problems == []
    assert {i["type"]: i["created"] for i in result.imports if i["created"]} == {"companies": 1, "people": 2}
    assert sorted(calls) == ["companies", "people", "people"]  # once per row, no dry run before


def test_a_bulk_import_writes_ids_events_and_search_entries_as_one_write_would(users: Any) -> None:
    """The streamed write (ids taken up front, rows, events and search entries written in bulk) leaves
    what create_record leaves: the invariant checker (conftest) verifies versions, history and entries;
    here the values themselves, and that ids keep growing past the largest id ever given."""
    manager = users["manager"]
    gone = write("people", {"first_name": "Old", "emails": ["old@example.com"]}, actor=manager)
    highest = gone.pk
    # Ids are never given twice, even after a hard delete (with its history and entry).
    Person.objects.filter(pk=gone.pk).delete()
    Event.objects.filter(type_key="people", record_id=gone.pk).delete()
    SearchEntry.objects.filter(type_key="people", record_id=gone.pk).delete()
    text = (
        "Name,Email,Phone,Job title\n"
        "Ada Lovelace,ada@example.com,+44 20 7946 0000,Countess\n"
        "Grace Hopper,grace@example.com,,\n"
    )
    imp = run(upload(manager, text), mapping=["full_name", "emails", "phones", "job_title"])
    assert counts(imp) == (2, 0, 0, 0)
    ada = Person.objects.get(primary_email="ada@example.com")
    grace = Person.objects.get(primary_email="grace@example.com")
    assert highest < ada.pk < grace.pk
    assert (ada.first_name, ada.last_name, ada.primary_phone, ada.version, ada.owner_id, ada.team_id) == (
        "Ada",
        "Lovelace",
        "+442079460000",
        1,
        manager.pk,
        manager.team_id,
    )
    event = Event.objects.get(type_key="people", record_id=ada.pk)
    assert (event.kind, event.source, event.request_id, event.actor_id, event.record_title) == (
        "created",
        "import",
        f"import-{imp.pk}",
        manager.pk,
        "Ada Lovelace",
    )
    assert event.changes["emails"] == [None, ["ada@example.com"]]
    assert event.changes["phones"] == [None, ["+442079460000"]]
    entry = SearchEntry.objects.get(type_key="people", record_id=ada.pk)
    assert (entry.title, entry.body, entry.identifiers) == (
        "Ada Lovelace",
        "Countess ada@example.com",
        "ada@example.com 442079460000 2079460000",
    )
    assert [h.record_id for h in search.search(manager, "Countess")] == [ada.pk]


def test_the_import_command_still_runs_the_dry_run_first(users: Any, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("First name,Email\nAda,ada@example.com\nAlan,nope\n")
    out = io.StringIO()
    call_command("import", str(path), "--type", "people", "--user", users["manager"].username, stdout=out)
    imp = Import.objects.get()
    assert (imp.status, imp.total, counts(imp)) == (Import.DONE, 2, (1, 0, 0, 1))
