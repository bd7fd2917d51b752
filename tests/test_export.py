"""CSV and XLSX export: escaping, visibility, filters, ordering, custom fields, batches."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
import pytest
from django.test import RequestFactory

from rapport.accounts.models import Role, User
from rapport.core import export, registry
from rapport.core.models import CustomField

from .conftest import write

rf = RequestFactory()


def do_export(user: User, type_key: str = "people", fmt: str = "csv", **params: str) -> Any:
    request = rf.get(f"/{type_key}/export/", {"format": fmt, **params})
    request.user = user
    return export.export_response(request, registry.get(type_key), fmt)


def csv_rows(response: Any) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def xlsx_rows(response: Any) -> tuple[Any, list[list[Any]]]:
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = book.active
    return sheet, [list(r) for r in sheet.iter_rows(values_only=True)]


@pytest.fixture
def people(users: dict[str, User], company: Any) -> dict[str, Any]:
    member = users["member"]
    return {
        "evil": write("people", {"first_name": '=HYPERLINK("http://x","y")', "last_name": "+1 cmd"}, actor=member),
        "ada": write(
            "people",
            {
                "first_name": "Ada",
                "last_name": "Lovelace",
                "emails": ["ada@acme.com"],
                "company": company.pk,
                "lifecycle_stage": "customer",
                "tags": ["vip", "board"],
            },
            actor=member,
        ),
        "west": write("people", {"first_name": "Wes", "last_name": "Outside"}, actor=users["outsider"]),
    }


def test_csv_has_header_rows_bom_and_filename(users: Any, people: Any) -> None:
    response = do_export(users["member"])
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="people-')
    assert response["Content-Disposition"].endswith('.csv"')
    rows = csv_rows(response)
    header = rows[0]
    assert header[:3] == ["ID", "First name", "Last name"]
    assert "Company" in header and "Tags" in header
    ada = next(r for r in rows if r[1] == "Ada")
    assert ada[header.index("Company")] == "Acme"
    assert ada[header.index("Tags")] == "board, vip"
    assert ada[header.index("Lifecycle stage")] == "Customer"
    assert ada[header.index("Owner")] == "Member"
    assert ada[header.index("Email")] == "ada@acme.com"


def test_formula_injection_is_neutralised_in_csv(users: Any, people: Any) -> None:
    rows = csv_rows(do_export(users["member"]))
    evil = next(r for r in rows if "HYPERLINK" in r[1])
    assert evil[1] == '\'=HYPERLINK("http://x","y")'
    assert evil[2] == "'+1 cmd"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (5, 5),
        (-5, -5),
    ],
)
def test_escape_cell(raw: Any, expected: Any) -> None:
    assert export.escape_cell(raw) == expected


def test_xlsx_opens_with_header_rows_and_text_cells(users: Any, people: Any) -> None:
    response = do_export(users["member"], fmt="xlsx")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="people-')
    sheet, rows = xlsx_rows(response)
    assert rows[0][:3] == ["ID", "First name", "Last name"]
    assert len(rows) == 3  # header + the member's two team records
    evil_row = next(i for i, r in enumerate(rows, start=1) if r[1] and "HYPERLINK" in r[1])
    cell = sheet.cell(row=evil_row, column=2)
    assert cell.value == '\'=HYPERLINK("http://x","y")' and cell.data_type == "s"
    assert sheet.cell(row=evil_row, column=3).value == "'+1 cmd"


def test_outsider_cannot_export_another_teams_records(users: Any, people: Any) -> None:
    names = {r[1] for r in csv_rows(do_export(users["outsider"]))[1:]}
    assert names == {"Wes"}
    names = {r[1] for r in csv_rows(do_export(users["member"]))[1:]}
    assert "Wes" not in names
    names = {r[1] for r in csv_rows(do_export(users["admin"]))[1:]}
    assert "Wes" in names and "Ada" in names


def test_read_only_without_export_gets_403(users: Any, people: Any) -> None:
    response = do_export(users["read-only"])
    assert response.status_code == 403
    assert b"may not export" in response.content
    assert do_export(users["read-only"], fmt="xlsx").status_code == 403


def test_export_scope_is_separate_from_view_scope(users: Any, people: Any) -> None:
    role = Role.objects.get(key="member")
    role.grants = {"*": {"view": "team", "export": "own"}}
    role.save()
    peer = User.objects.get(pk=users["peer"].pk)
    assert csv_rows(do_export(peer))[1:] == []  # peer owns nothing
    names = {r[1] for r in csv_rows(do_export(User.objects.get(pk=users["member"].pk)))[1:]}
    assert "Ada" in names


def test_deleted_records_are_not_exported(users: Any, people: Any) -> None:
    from rapport.core import services

    services.delete_record(people["ada"], actor=users["member"], source="ui")
    names = {r[1] for r in csv_rows(do_export(users["member"]))[1:]}
    assert "Ada" not in names


def test_filters_and_ordering_are_respected(users: Any, people: Any) -> None:
    rows = csv_rows(do_export(users["member"], lifecycle_stage="customer"))
    assert [r[1] for r in rows[1:]] == ["Ada"]
    rows = csv_rows(do_export(users["member"], tag="vip"))
    assert [r[1] for r in rows[1:]] == ["Ada"]
    rows = csv_rows(do_export(users["admin"], ordering="first_name"))
    assert [r[1] for r in rows[1:]] == sorted(r[1] for r in rows[1:])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"colour": "red"}, b"colour: "),
        ({"ordering": "password"}, b"ordering: cannot sort by"),
        ({"cf_nope": "1"}, b"cf_nope: there is no custom field"),
        ({"lifecycle_stage": "king"}, b"lifecycle_stage"),
    ],
)
def test_bad_parameters_answer_400(users: Any, people: Any, params: dict[str, str], message: bytes) -> None:
    response = do_export(users["member"], **params)
    assert response.status_code == 400
    assert message in response.content


def test_unknown_format_is_400(users: Any) -> None:
    assert do_export(users["member"], fmt="pdf").status_code == 400


def test_custom_fields_are_exported_with_display_values(users: Any, company: Any) -> None:
    CustomField.objects.create(record_type="people", key="tier", label="Tier", field_type="choice", choices=["Gold"])
    CustomField.objects.create(record_type="people", key="score", label="Score", field_type="number")
    CustomField.objects.create(record_type="people", key="agent", label="Agent", field_type="user")
    CustomField.objects.create(
        record_type="people", key="partner", label="Partner", field_type="reference", reference_type="companies"
    )
    CustomField.objects.create(record_type="people", key="flag", label="=Flag", field_type="boolean")
    write(
        "people",
        {
            "first_name": "Cy",
            "custom": {"tier": "Gold", "score": -3, "agent": users["peer"].pk, "partner": company.pk, "flag": True},
        },
        actor=users["member"],
    )
    rows = csv_rows(do_export(users["member"]))
    header = rows[0]
    assert header[-5:] == ["Tier", "Score", "Agent", "Partner", "'=Flag"]
    cy = next(r for r in rows if r[1] == "Cy")
    assert cy[-5:] == ["Gold", "-3", "Peer", "Acme", "Yes"]
    _, xrows = xlsx_rows(do_export(users["member"], fmt="xlsx"))
    xcy = next(r for r in xrows if r[1] == "Cy")
    assert xcy[-4] == -3  # numbers stay numbers


def test_export_reads_in_keyset_batches(users: Any, monkeypatch: Any, django_assert_max_num_queries: Any) -> None:
    monkeypatch.setattr(export, "BATCH_SIZE", 3)
    for i in range(8):
        write("companies", {"name": f"Co {i:02d}"}, actor=users["member"])
    user = User.objects.select_related("role").get(pk=users["member"].pk)
    response = do_export(user, "companies", ordering="name")
    with django_assert_max_num_queries(6):  # 3 batches + 1 empty tail at most, no per-row queries
        rows = csv_rows(response)
    assert [r[1] for r in rows[1:]] == [f"Co {i:02d}" for i in range(8)]
    assert len({r[0] for r in rows[1:]}) == 8


def test_export_rows_is_reusable_and_checks_eagerly(users: Any, people: Any) -> None:
    from django.core.exceptions import PermissionDenied

    from rapport.core.listing import QueryError

    with pytest.raises(PermissionDenied):
        export.export_rows(registry.get("people"), users["read-only"], {})
    with pytest.raises(QueryError):
        export.export_rows(registry.get("people"), users["member"], {"nope": "1"})
    rows = list(export.export_rows(registry.get("people"), users["member"], {"lifecycle_stage": "customer"}))
    assert rows[0][0] == "ID" and len(rows) == 2
