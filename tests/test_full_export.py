"""The full export: a zip of one CSV per registered type with ids and links, formula-safe, streamed, for
administrators only; the command and the API download."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from rapport.accounts.models import User
from rapport.contacts.models import Company, Person
from rapport.core import customfields, registry
from rapport.deals.models import Deal
from rapport.imports import fullexport

from .conftest import write


def read_zip(data: bytes) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        files = {
            name: list(csv.DictReader(io.StringIO(archive.read(name).decode("utf-8"))))
            for name in archive.namelist()
            if name.endswith(".csv")
        }
    return manifest, files


def export_bytes(user: User, **kwargs: Any) -> bytes:
    buffer = io.BytesIO()
    fullexport.write_full_export(buffer, user=user, **kwargs)
    return buffer.getvalue()


@pytest.fixture
def data(users: dict[str, User]) -> dict[str, Any]:
    admin = users["admin"]
    customfields.create_field("people", "shoe_size", {"label": "Shoe size", "field_type": "number"}, actor=admin)
    customfields.create_field(
        "people", "mentor", {"label": "Mentor", "field_type": "reference", "reference_type": "people"}, actor=admin
    )
    parent = write("companies", {"name": "Acme Holdings", "domain": "acme-holdings.com"}, actor=admin)
    acme = write("companies", {"name": "Acme", "domain": "acme.com", "parent": parent.pk}, actor=admin)
    ada = write(
        "people",
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "emails": [{"email": "ada@acme.com", "primary": True}, "ada@home.example"],
            "phones": [{"number": "+44 20 7946 0001", "kind": "mobile"}],
            "company": acme.pk,
            "tags": ["vip", "board"],
            "custom": {"shoe_size": 38},
        },
        actor=users["member"],
    )
    evil = write(
        "people",
        {"first_name": '=HYPERLINK("http://x","y")', "last_name": "'quoted", "custom": {"mentor": ada.pk}},
        actor=admin,
    )
    deal = write(
        "deals",
        {
            "title": "Big one",
            "company": acme.pk,
            "amount": "1200.00",
            "contacts": [{"person": ada.pk, "role": "champion"}],
        },
        actor=users["member"],
    )
    return {"parent": parent, "acme": acme, "ada": ada, "evil": evil, "deal": deal}


def test_zip_holds_every_type_in_load_order_with_ids_and_links(users: dict[str, User], data: Any) -> None:
    manifest, files = read_zip(export_bytes(users["admin"]))
    assert manifest["format"] == "rapport-full-export" and manifest["version"] == 1
    assert manifest["base_currency"] == "USD"
    keys = [t["key"] for t in manifest["types"]]
    assert sorted(keys) == sorted(registry.keys())
    # Links point backwards: companies before people and deals, products before deals, all before activities.
    assert keys.index("companies") < keys.index("people") < keys.index("deals")
    assert keys.index("products") < keys.index("deals") < keys.index("activities")
    counts = {t["key"]: t["count"] for t in manifest["types"]}
    assert counts["companies"] == 2 and counts["people"] == 2 and counts["deals"] == 1
    assert set(files) == {"users.csv", *(f"{k}.csv" for k in keys)}

    companies = {r["name"]: r for r in files["companies.csv"]}
    assert companies["Acme"]["id"] == str(data["acme"].pk)
    assert companies["Acme"]["parent"] == str(data["parent"].pk)  # a link as the linked record's id

    people = {r["last_name"]: r for r in files["people.csv"]}
    ada = people["Lovelace"]
    assert ada["id"] == str(data["ada"].pk)
    assert ada["company"] == str(data["acme"].pk)
    assert ada["owner"] == "member"  # users by user name
    assert ada["emails"] == "ada@acme.com"  # the plain column holds the first (primary) entry
    assert json.loads(ada["emails.json"]) == [
        {"email": "ada@acme.com", "primary": True},
        {"email": "ada@home.example", "primary": False},
    ]
    assert json.loads(ada["phones.json"]) == [{"kind": "mobile", "number": "+442079460001", "primary": True}]
    assert ada["tags"].split("\n") == ["board", "vip"]
    assert ada["cf_shoe_size"] == "38"
    assert json.loads(ada["custom.json"]) == {"shoe_size": 38}
    assert json.loads(people["''quoted"]["custom.json"]) == {"mentor": data["ada"].pk}

    deal = files["deals.csv"][0]
    assert deal["company"] == str(data["acme"].pk)
    assert deal["stage"] and deal["pipeline"] == "Sales pipeline"  # settings by name
    assert deal["probability"] == ""  # follows its stage: not exported as an override
    assert json.loads(deal["contacts.json"]) == [{"person": data["ada"].pk, "role": "champion"}]

    users_rows = {r["username"]: r for r in files["users.csv"]}
    assert users_rows["member"]["first_name"] == "Member"
    fields = {(f["record_type"], f["key"]) for f in manifest["settings"]["custom_fields"]}
    assert fields == {("people", "shoe_size"), ("people", "mentor")}
    assert manifest["settings"]["pipelines"][0]["name"] == "Sales pipeline"


def test_formula_like_cells_are_neutralised_and_come_back_exactly(users: dict[str, User], data: Any) -> None:
    _, files = read_zip(export_bytes(users["admin"]))
    evil = next(r for r in files["people.csv"] if "HYPERLINK" in r["first_name"])
    assert evil["first_name"] == '\'=HYPERLINK("http://x","y")'
    assert evil["last_name"] == "''quoted"  # a leading quote is doubled, so one comes off on loading
    assert fullexport.unsafe(evil["first_name"]) == '=HYPERLINK("http://x","y")'
    assert fullexport.unsafe(evil["last_name"]) == "'quoted"
    for raw in ("=1+1", "+1", "-1", "@x", "\tx", "\rx", "'x", "''x", "plain", ""):
        assert fullexport.unsafe(fullexport.safe(raw)) == raw


def test_only_administrators_export_everything(users: dict[str, User], data: Any) -> None:
    assert fullexport.may_export_all(users["admin"])
    for role in ("manager", "member", "read-only"):
        with pytest.raises(fullexport.FullExportError, match="Only an administrator"):
            export_bytes(users[role])


def test_export_reads_in_keyset_batches(
    users: dict[str, User], data: Any, monkeypatch: Any, django_assert_max_num_queries: Any
) -> None:
    for i in range(7):
        write("companies", {"name": f"Company {i}"}, actor=users["admin"])
    monkeypatch.setattr(fullexport, "BATCH_SIZE", 2)
    seen: list[tuple[str, int]] = []
    manifest, files = read_zip(export_bytes(users["admin"], progress=lambda key, rows: seen.append((key, rows))))
    assert [rows for key, rows in seen if key == "companies"] == [2, 4, 6, 8, 9]
    assert len(files["companies.csv"]) == 9 == next(t["count"] for t in manifest["types"] if t["key"] == "companies")
    ids = [int(r["id"]) for r in files["companies.csv"]]
    assert ids == sorted(ids)


def test_binned_records_are_not_exported(users: dict[str, User], data: Any) -> None:
    from rapport.core import services

    services.delete_record(data["evil"], actor=users["admin"], source="system")
    _, files = read_zip(export_bytes(users["admin"]))
    assert [r["last_name"] for r in files["people.csv"]] == ["Lovelace"]


def test_command_writes_the_zip(users: dict[str, User], data: Any, tmp_path: Path) -> None:
    target = tmp_path / "everything.zip"
    out = io.StringIO()
    call_command("export", str(target), "--all", stdout=out)
    assert out.getvalue().startswith(f"Exported to {target} (")
    assert "2 companies, 2 people" in out.getvalue()
    manifest, files = read_zip(target.read_bytes())
    assert len(files["people.csv"]) == 2
    assert not (tmp_path / "everything.zip.part").exists()
    with pytest.raises(CommandError, match="Say --all"):
        call_command("export", str(target))
    with pytest.raises(CommandError, match="not an administrator"):
        call_command("export", str(target), "--all", "--user", "member")
    with pytest.raises(CommandError, match="must end in .zip"):
        call_command("export", str(tmp_path / "x.csv"), "--all")


def test_counts_match_the_database(users: dict[str, User], data: Any) -> None:
    manifest, _ = read_zip(export_bytes(users["admin"]))
    counts = {t["key"]: t["count"] for t in manifest["types"]}
    assert counts["people"] == Person.objects.live().count()
    assert counts["companies"] == Company.objects.live().count()
    assert counts["deals"] == Deal.objects.live().count()


def test_api_download_for_administrators_only(users: dict[str, User], data: Any, api_client_for: Any) -> None:
    response = api_client_for(users["admin"]).get("/api/v1/export/all/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="rapport-export-')
    manifest, files = read_zip(b"".join(response.streaming_content))
    assert {t["key"]: t["count"] for t in manifest["types"]}["people"] == 2
    for role in ("manager", "member", "read-only"):
        refused = api_client_for(users[role]).get("/api/v1/export/all/")
        assert refused.status_code == 403
        assert refused.json()["message"] == "Only administrators can export everything."
