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
    # Text, never a formula, and marked so that it stays text when edited; the value itself unchanged.
    assert cell.value == '=HYPERLINK("http://x","y")' and cell.data_type == "s" and cell.quotePrefix
    last = sheet.cell(row=evil_row, column=3)
    assert last.value == "+1 cmd" and last.data_type == "s" and last.quotePrefix
    assert not sheet.cell(row=1, column=2).quotePrefix  # plain text is left alone


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


# --- typed cells: numbers, money, percentages, dates, phone numbers -----------------------------
TYPED_KINDS = {"number": "n", "percent": "n", "money": "n", "date": "d", "datetime": "d"}


@pytest.mark.parametrize("type_key", registry.keys())
def test_every_numeric_and_date_column_is_a_typed_xlsx_cell(type_key: str, users: Any) -> None:
    """For every registered type, whatever its example fills in a number, money, percent, date or datetime
    column is a number or a date in the XLSX, not text; a new column of those kinds is covered the day
    it is registered."""
    from .test_api_generic import example

    record = write(type_key, example(type_key), actor=users["admin"])
    rtype = registry.get(type_key)
    sheet, rows = xlsx_rows(do_export(users["admin"], type_key, fmt="xlsx"))
    row = next(i for i, r in enumerate(rows, start=1) if r[0] == record.pk)
    checked = 0
    for n, col in enumerate(rtype.columns, start=2):
        cell = sheet.cell(row=row, column=n)
        if col.kind in TYPED_KINDS and cell.value not in (None, ""):
            assert cell.data_type == TYPED_KINDS[col.kind], (col.key, cell.value, cell.data_type)
            checked += 1
        elif col.kind == "phone" and cell.value:
            assert not str(cell.value).startswith("'") and not cell.quotePrefix
    assert checked >= 2  # at least created_at and updated_at


@pytest.fixture
def deals(users: dict[str, User]) -> dict[str, Any]:
    member = users["member"]
    return {
        "eur": write(
            "deals",
            {"title": "Euro deal", "amount": "1234.50", "currency": "EUR", "expected_close_date": "2026-03-31"},
            actor=member,
        ),
        "jpy": write("deals", {"title": "Yen deal", "amount": "98000", "currency": "JPY"}, actor=member),
    }


def test_deal_money_percent_and_dates_sum_and_sort(users: Any, deals: Any) -> None:
    member = users["member"]
    member.time_zone = "Asia/Tokyo"  # +09:00, no daylight saving
    member.save()
    sheet, rows = xlsx_rows(do_export(member, "deals", fmt="xlsx"))
    header = rows[0]
    at = {
        label: header.index(label) + 1 for label in ("Amount", "Currency", "Probability %", "Expected close", "Updated")
    }
    line = {sheet.cell(row=i, column=2).value: i for i in range(2, len(rows) + 1)}

    eur = sheet.cell(row=line["Euro deal"], column=at["Amount"])
    assert eur.data_type == "n" and eur.value == 1234.5 and eur.number_format == '#,##0.00 "EUR"'
    yen = sheet.cell(row=line["Yen deal"], column=at["Amount"])
    assert yen.data_type == "n" and yen.value == 98000 and yen.number_format == '#,##0 "JPY"'
    assert sheet.cell(row=line["Euro deal"], column=at["Currency"]).value == "EUR"

    probability = sheet.cell(row=line["Euro deal"], column=at["Probability %"])
    expected = deals["eur"].probability
    assert probability.data_type == "n" and probability.value == pytest.approx(float(expected) / 100)
    assert probability.number_format in ("0%", "0.00%")

    close = sheet.cell(row=line["Euro deal"], column=at["Expected close"])
    assert close.is_date and close.value.date().isoformat() == "2026-03-31" and close.number_format == "yyyy-mm-dd"
    updated = sheet.cell(row=line["Euro deal"], column=at["Updated"])
    tokyo = deals["eur"].updated_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    assert updated.is_date and updated.value == tokyo.replace(tzinfo=None, second=0, microsecond=0)

    # CSV: the same values as text, with the amount in its currency's decimals.
    csv_deals = {r[1]: r for r in csv_rows(do_export(member, "deals"))[1:]}
    assert csv_deals["Euro deal"][at["Amount"] - 1] == "1234.50"
    assert csv_deals["Euro deal"][at["Updated"] - 1] == tokyo.strftime("%Y-%m-%d %H:%M")


def test_phone_numbers_are_not_prefixed_but_free_text_is(users: Any) -> None:
    CustomField.objects.create(record_type="people", key="mobile", label="Mobile", field_type="phone")
    CustomField.objects.create(record_type="people", key="budget", label="Budget", field_type="money")
    CustomField.objects.create(record_type="people", key="met", label="Met", field_type="date")
    write(
        "people",
        {
            "first_name": "-Dash",
            "phones": ["+44 20 7946 0958"],
            "custom": {"mobile": "+49 30 901820", "budget": {"amount": "12.5", "currency": "EUR"}, "met": "2026-02-01"},
        },
        actor=users["member"],
    )
    rows = csv_rows(do_export(users["member"]))
    header = rows[0]
    dash = next(r for r in rows if r[1] == "'-Dash")  # free text: escaped in CSV
    phone = dash[header.index("Phone")]
    assert phone.startswith("+44") and "'" not in phone
    assert dash[header.index("Mobile")].startswith("+49")
    sheet, xrows = xlsx_rows(do_export(users["member"], fmt="xlsx"))
    row = next(i for i, r in enumerate(xrows, start=1) if r[1] == "-Dash")
    assert sheet.cell(row=row, column=2).quotePrefix
    for label in ("Phone", "Mobile"):
        cell = sheet.cell(row=row, column=header.index(label) + 1)
        assert cell.value.startswith("+") and cell.data_type == "s" and not cell.quotePrefix
    budget = sheet.cell(row=row, column=header.index("Budget") + 1)
    assert budget.data_type == "n" and budget.value == 12.5 and budget.number_format == '#,##0.00 "EUR"'
    met = sheet.cell(row=row, column=header.index("Met") + 1)
    assert met.is_date and met.value.date().isoformat() == "2026-02-01"
