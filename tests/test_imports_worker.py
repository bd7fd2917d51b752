"""An import whose worker is killed (SIGKILL) mid-import resumes in another worker from its checkpoint:
every valid row imported exactly once, none lost, history written once per record."""

from __future__ import annotations

from typing import Any

import pytest

from rapport.contacts.models import Person
from rapport.core.models import Event
from rapport.imports import services
from rapport.imports.models import Import, ImportChange

from .conftest import make_user
from .jobs_helpers import kill_hard, output, start, stop, wait_for

ROWS = 1500


@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_import_resumes_without_duplicates_or_lost_rows(tmp_path: Any) -> None:
    manager = make_user("importer", "manager")
    path = tmp_path / "many.csv"
    with open(path, "w") as f:
        f.write("First name,Last name,Email\n")
        for i in range(ROWS):
            email = f"p{i}@example.com" if i % 100 != 7 else "broken"  # 15 invalid rows
            f.write(f"Person,{i},{email}\n")
    imp = services.create_import(actor=manager, type_key="people", upload=path, filename="many.csv")
    imp = services.run_now(imp, dry_run=True)
    assert (imp.total, imp.created, imp.rejected) == (ROWS, ROWS - 15, 15)
    services.start_run(imp, actor=manager)  # enqueued on commit (no transaction here: at once)

    first = start("worker", tmp_path, "--interval", "0.2", RAPPORT_IMPORT_BATCH="25")
    try:
        wait_for(lambda: Import.objects.get(pk=imp.pk).rows_done >= 200, what="a few batches committed")
    finally:
        kill_hard(first)
    stopped = Import.objects.get(pk=imp.pk)
    assert stopped.status == Import.RUNNING
    assert 200 <= stopped.rows_done < ROWS, "the worker finished before it was killed: make the file bigger"
    # What was committed is exactly the batches up to the checkpoint.
    assert Person.objects.count() == stopped.created
    assert ImportChange.objects.filter(job=imp).count() == stopped.created

    second = start("worker", tmp_path, "--interval", "0.2", RAPPORT_IMPORT_BATCH="25")
    try:
        wait_for(lambda: Import.objects.get(pk=imp.pk).status == Import.DONE, timeout=120, what="the import to finish")
    finally:
        assert stop(second) == 0, output(second)
    done = Import.objects.get(pk=imp.pk)
    assert (done.rows_done, done.created, done.rejected, done.skipped) == (ROWS, ROWS - 15, 15, 0)
    emails = list(Person.objects.values_list("primary_email", flat=True))
    assert len(emails) == len(set(emails)) == ROWS - 15
    assert set(emails) == {f"p{i}@example.com" for i in range(ROWS) if i % 100 != 7}
    created = Event.objects.filter(request_id=f"import-{imp.pk}", kind="created", source="import")
    assert created.count() == ROWS - 15
    assert sorted(done.rejections.values_list("line", flat=True)) == [i + 2 for i in range(ROWS) if i % 100 == 7]
    assert "lost by worker" in output(second)
