"""Rows the reader could not read cleanly (Row.error) are rejected by the import with the reader's reason,
line and column; the other rows are imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rapport.contacts.models import Person
from rapport.imports import services
from rapport.imports.models import ImportRejection


def test_rows_with_a_read_problem_are_rejected_with_its_reason(users: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(
        b"First name,Last name,Email\n"
        b"Ann,Lee,ann@example.org\n"
        b"B\x00ob,Stone,bob@example.org\n"  # a NUL byte
        b"Cy,Ray,cy@example.org,stray value\n"  # a cell without a column
        b"Dee,Fox,dee@example.org\n"
    )
    imp = services.create_import(actor=users["admin"], type_key="people", upload=path, filename="people.csv")
    imp = services.run_now(imp)
    assert (imp.created, imp.rejected) == (2, 2)
    assert sorted(Person.objects.values_list("first_name", flat=True)) == ["Ann", "Dee"]
    rejected = list(ImportRejection.objects.filter(job=imp).order_by("line").values_list("line", "column", "value"))
    assert rejected[0] == (3, "First name", "Bob")
    assert rejected[1][:2] == (4, "D")
    reasons = list(ImportRejection.objects.filter(job=imp).order_by("line").values_list("reason", flat=True))
    assert "NUL character" in reasons[0]
    assert reasons[1].startswith("Line 4 has 4 cells but the header has 3 columns")
