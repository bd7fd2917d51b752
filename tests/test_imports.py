"""The import job: mapping, natural keys and their visibility, the dry run's rejections with their exact
lines, matching and in-file duplicates, re-import, cancel, undo (imports/services.py)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client

from rapport.contacts.models import Company, Person
from rapport.core.models import CustomField, Event
from rapport.imports import services
from rapport.imports.models import Import, ImportChange, ImportRejection

from .conftest import write


def upload(actor: Any, text: str, type_key: str = "people", **kwargs: Any) -> Import:
    return services.create_import(
        actor=actor, type_key=type_key, upload=io.BytesIO(text.encode()), filename="people.csv", **kwargs
    )


def run(imp: Import, **mapping: Any) -> Import:
    if mapping:
        services.set_mapping(imp, actor=imp.actor, **mapping)
    return services.run_now(imp)


def rejections(imp: Import) -> list[tuple[int, str, str, str]]:
    return [
        (r.line, r.column, r.value, r.reason) for r in ImportRejection.objects.filter(job=imp).order_by("line", "id")
    ]


def people() -> list[tuple[str, str, str]]:
    return sorted(Person.objects.live().values_list("first_name", "last_name", "primary_email"))


CSV = (
    "First name,Last name,Email,Company,Notes\n"
    "Ada,Lovelace,ada@example.com,Acme,\n"
    'Grace,Hopper,grace@example.com,,"Invented\nthe compiler"\n'
    'Alan,Turing,not-an-email,,"Broke\nthe\ncode"\n'
    "Edsger,Dijkstra,edsger@example.com,Nowhere Ltd,\n"
)


def test_upload_suggests_a_mapping_by_column_title(users: Any) -> None:
    imp = upload(users["manager"], CSV)
    assert imp.headers == ["First name", "Last name", "Email", "Company", "Notes"]
    assert imp.mapping == ["first_name", "last_name", "emails", "company", "notes"]
    assert imp.match_field == "email"
    assert imp.status == Import.UPLOADED
    assert open(imp.stored_path).read() == CSV


def test_dry_run_reports_each_rejected_row_with_its_line_and_writes_nothing(users: Any, company: Company) -> None:
    imp = upload(users["manager"], CSV)
    imp = services.run_now(imp, dry_run=True)
    assert imp.status == Import.CHECKED
    assert (imp.total, imp.created, imp.updated, imp.skipped, imp.rejected) == (4, 2, 0, 0, 2), rejections(imp)
    # Grace's notes span lines 3 and 4, so Turing's row starts on line 5; his span 5 to 7.
    assert rejections(imp) == [
        (
            5,
            "Email",
            "not-an-email",
            "'not-an-email' is not a valid email address: An email address must have an @-sign.",
        ),
        (8, "Company", "Nowhere Ltd", "There is no company called Nowhere Ltd."),
    ]
    assert not Person.objects.filter(last_name__in=["Hopper", "Turing", "Dijkstra"]).exists()


def test_import_writes_valid_rows_through_the_write_path_with_the_import_as_source(
    users: Any, company: Company
) -> None:
    imp = run(upload(users["manager"], CSV))
    assert imp.status == Import.DONE
    assert (imp.created, imp.updated, imp.skipped, imp.rejected) == (2, 0, 0, 2)
    ada = Person.objects.get(primary_email="ada@example.com")
    assert ada.company_id == company.pk
    assert ada.owner_id == users["manager"].pk
    events = Event.objects.filter(request_id=f"import-{imp.pk}")
    assert sorted(events.values_list("kind", "source", "record_title")) == [
        ("created", "import", "Ada Lovelace"),
        ("created", "import", "Grace Hopper"),
    ]
    assert sorted(ImportChange.objects.filter(job=imp).values_list("line", "action")) == [
        (2, "created"),
        (3, "created"),
    ]


def test_reimporting_the_same_file_changes_nothing(users: Any, company: Company) -> None:
    run(upload(users["manager"], CSV))
    before = Event.objects.count()
    again = run(upload(users["manager"], CSV))
    assert (again.created, again.updated, again.skipped, again.rejected) == (0, 0, 2, 2)
    updating = run(upload(users["manager"], CSV), on_match="update")
    assert (updating.created, updating.updated, updating.skipped, updating.rejected) == (0, 0, 2, 2)
    assert Event.objects.count() == before
    assert Person.objects.live().count() == 2


def test_rows_matching_each_other_in_the_file_are_merged_into_one_record(users: Any) -> None:
    text = (
        "Name,Email,Phone,Tags\n"
        "Ada Lovelace,ada@example.com,,math\n"
        "Grace Hopper,grace@example.com,,\n"
        "Ada King Lovelace,ADA@example.com,+44 20 7946 0000,poetry\n"
    )
    imp = run(upload(users["manager"], text), mapping=["full_name", "emails", "phones", "tags"])
    assert (imp.created, imp.skipped, imp.rejected) == (2, 1, 0)
    ada = Person.objects.get(primary_email="ada@example.com")
    assert (ada.first_name, ada.last_name, ada.primary_phone, ada.tags) == (
        "Ada King",
        "Lovelace",
        "+442079460000",
        ["math", "poetry"],
    )


def test_update_mode_changes_matching_records_and_undo_restores_them(users: Any, person: Person) -> None:
    manager = users["manager"]
    text = "Email,Job title,Last name\nada@acme.com,Countess,Lovelace\nnew@example.com,Engineer,Newman\n"
    imp = run(upload(manager, text), on_match="update")
    assert (imp.created, imp.updated, imp.skipped, imp.rejected) == (1, 1, 0, 0)
    person.refresh_from_db()
    assert person.job_title == "Countess"
    assert ImportChange.objects.get(job=imp, action="updated").before == {"job_title": ""}

    imp = services.start_undo(imp, actor=manager)
    imp = services.run_undo(imp.pk)
    assert imp.status == Import.UNDONE and imp.undo_conflicts == 0
    person.refresh_from_db()
    assert person.job_title == ""
    newman = Person.objects.get(last_name="Newman")
    assert newman.deleted_at is not None  # in the recycle bin
    assert sorted(Event.objects.filter(request_id=f"import-{imp.pk}").values_list("kind", flat=True)) == [
        "created",
        "deleted",
        "updated",
        "updated",
    ]


def test_undo_leaves_a_record_changed_since_by_someone_else(users: Any, person: Person) -> None:
    manager = users["manager"]
    imp = run(upload(manager, "Email,Job title\nada@acme.com,Countess\n"), on_match="update")
    write("people", {"job_title": "Analyst"}, actor=users["member"], instance=person)
    imp = services.run_undo(services.start_undo(imp, actor=manager).pk)
    assert imp.undo_conflicts == 1
    person.refresh_from_db()
    assert person.job_title == "Analyst"


def test_links_resolve_only_among_records_the_actor_may_view(users: Any, teams: Any) -> None:
    west = write("companies", {"name": "Westwind", "domain": "westwind.example"}, actor=users["outsider"])
    east = write("companies", {"name": "Eastgate"}, actor=users["member"])
    text = "Email,Company\na@example.com,Westwind\nb@example.com,westwind.example\nc@example.com,eastgate\n"
    imp = run(upload(users["manager"], text))
    assert rejections(imp) == [
        (2, "Company", "Westwind", "There is no company called Westwind."),
        (3, "Company", "westwind.example", "There is no company called westwind.example."),
    ]
    assert Person.objects.get(primary_email="c@example.com").company_id == east.pk
    # Seen by someone who may see it, by name or by domain.
    admin_imp = run(upload(users["admin"], text.replace("@", "2@")))
    assert admin_imp.rejected == 0
    assert Person.objects.get(primary_email="b2@example.com").company_id == west.pk


def test_missing_companies_are_created_when_asked_and_removed_by_undo(users: Any) -> None:
    manager = users["manager"]
    text = "Email,Company\na@example.com,Initech\nb@example.com,initech\n"
    imp = run(upload(manager, text), create_companies=True)
    assert imp.rejected == 0
    initech = Company.objects.get(name="Initech")
    assert set(Person.objects.values_list("company_id", flat=True)) == {initech.pk}
    services.run_undo(services.start_undo(imp, actor=manager).pk)
    initech.refresh_from_db()
    assert initech.deleted_at is not None
    assert Person.objects.live().count() == 0


def test_constants_owner_by_email_and_custom_fields(users: Any) -> None:
    CustomField.objects.create(record_type="people", key="shoe_size", label="Shoe size", field_type="number")
    peer = users["peer"]
    peer.email = "peer@rapport.example"
    peer.save()
    text = "Email,Owner,Shoe\na@example.com,PEER@rapport.example,42\nb@example.com,nobody,x\n"
    imp = run(
        upload(users["manager"], text),
        mapping=["emails", "owner", "cf_shoe_size"],
        constants={"source": "Trade fair", "lifecycle_stage": "customer"},
    )
    a = Person.objects.get(primary_email="a@example.com")
    assert (a.owner_id, a.custom, a.source, a.lifecycle_stage) == (peer.pk, {"shoe_size": 42}, "Trade fair", "customer")
    assert rejections(imp) == [
        (3, "Owner", "nobody", "There is no user called nobody."),
    ]


def test_saved_mapping_is_applied_by_column_title(users: Any) -> None:
    manager = users["manager"]
    imp = upload(manager, "E-mail address,Surname\na@example.com,Lee\n")
    services.set_mapping(imp, actor=manager, mapping=["emails", "last_name"])
    services.save_mapping(imp, "Fair list", actor=manager)
    other = upload(manager, "Surname,Notes,E-mail address\nKim,,k@example.com\n")
    other = services.apply_saved_mapping(other, "Fair list", actor=manager)
    assert other.mapping == ["last_name", "", "emails"]


def test_cancel_stops_an_import_after_its_current_batch(users: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "BATCH", 2)
    manager = users["manager"]
    text = "Email\n" + "".join(f"p{i}@example.com\n" for i in range(6))
    imp = services.run_now(upload(manager, text), dry_run=True)
    assert imp.total == 6
    imp = services.start_run(imp, actor=manager)

    def cancel_after_first(state: Import) -> None:
        if state.rows_done == 2:
            services.cancel(Import.objects.get(pk=state.pk), actor=manager)

    imp = services.run_import(imp.pk, progress=cancel_after_first)
    assert imp.status == Import.CANCELLED
    assert imp.created == 2
    assert Person.objects.count() == 2


def test_a_role_without_import_may_not_import(users: Any) -> None:
    with pytest.raises(services.ImportInputError):
        upload(users["member"], CSV)
    assert [t.key for t in services.importable_types(users["member"])] == []
    assert "people" in [t.key for t in services.importable_types(users["manager"])]


def test_links_by_source_id_resolve_within_the_batch_only(users: Any) -> None:
    admin = users["admin"]
    companies = "Id,Name,Domain\nC1,Initech,initech.example\nC2,Globex,globex.example\n"
    first = upload(admin, companies, type_key="companies", batch="load-1")
    first = run(first, mapping=["source_id", "name", "domain"])
    assert first.created == 2
    assert sorted(ImportChange.objects.filter(job=first).values_list("source_id", flat=True)) == ["C1", "C2"]
    text = "Email,Company id\na@example.com,C2\nb@example.com,C9\n"
    people_imp = run(upload(admin, text, batch="load-1"), mapping=["emails", "company:source_id"])
    globex = Company.objects.get(name="Globex")
    assert Person.objects.get(primary_email="a@example.com").company_id == globex.pk
    assert rejections(people_imp) == [
        (3, "Company id", "C9", "There is no company with the source id C9 in this load.")
    ]
    # Another batch does not see these source ids.
    other = run(upload(admin, text.replace("@", "2@"), batch="load-2"), mapping=["emails", "company:source_id"])
    assert [r[0] for r in rejections(other)] == [2, 3]


def test_deals_link_pipeline_stage_owner_and_company_by_name(users: Any, company: Company) -> None:
    from rapport.deals.models import Deal, Stage

    from .conftest import default_pipeline

    pipeline = default_pipeline()
    stage = Stage.objects.filter(pipeline=pipeline, kind="open").order_by("position")[1]
    text = (
        "Title,Amount,Currency,Pipeline,Stage,Owner,Company,Tags\n"
        f"Big one,1200.50,EUR,{pipeline.name.upper()},{stage.name},Peer,acme.com,vip; q4\n"
        f"Small one,abc,EUR,{pipeline.name},No such stage,Peer,Acme,\n"
    )
    imp = run(
        upload(users["manager"], text, type_key="deals"),
        mapping=["title", "amount", "currency", "pipeline", "stage", "owner", "company", "tags"],
        tag_separator=";",
    )
    deal = Deal.objects.get()
    assert (deal.title, str(deal.amount), deal.stage_id, deal.owner_id, deal.company_id, deal.tags) == (
        "Big one",
        "1200.50",
        stage.pk,
        users["peer"].pk,
        company.pk,
        ["q4", "vip"],
    )
    assert rejections(imp) == [(3, "Stage", "No such stage", "There is no stage called No such stage.")]


def test_products_and_activities_import_through_their_serializers(users: Any) -> None:
    from rapport.activities.models import Activity
    from rapport.quotes.models import Product

    admin = users["admin"]
    imp = run(upload(admin, "Name,SKU,Tax rate\nWidget,W-1,20\nGadget,G-1,300\n", type_key="products"))
    assert list(Product.objects.values_list("name", "sku")) == [("Widget", "W-1")]
    assert [(r[0], r[1]) for r in rejections(imp)] == [(3, "Tax rate")]
    text = "Kind,Subject,Due\ntask,Call Ada back,2026-12-01T09:00:00Z\nnonsense,Something,\n"
    imp = run(upload(admin, text, type_key="activities"), mapping=["kind", "subject", "due_at"])
    assert list(Activity.objects.values_list("subject", flat=True)) == ["Call Ada back"]
    assert [(r[0], r[1]) for r in rejections(imp)] == [(3, "Kind")]


def test_a_full_name_is_split_into_first_and_last(users: Any) -> None:
    text = 'Name,Email\nAda King Lovelace,a@example.com\n"Hopper, Grace",g@example.com\nPrince,p@example.com\n'
    run(upload(users["manager"], text), mapping=["full_name", "emails"])
    assert people() == [
        ("Ada King", "Lovelace", "a@example.com"),
        ("Grace", "Hopper", "g@example.com"),
        ("Prince", "", "p@example.com"),
    ]


def test_a_file_over_the_size_limit_is_refused_and_not_kept(users: Any, settings: Any) -> None:
    settings.RAPPORT_IMPORT_MAX_BYTES = 40
    kept = set(services.imports_dir().iterdir())
    with pytest.raises(services.ImportInputError) as refused:
        upload(users["manager"], CSV)
    assert refused.value.message == "The file is larger than 40 bytes, the most an import takes."
    assert set(services.imports_dir().iterdir()) == kept


def test_after_an_import_likely_duplicates_wait_in_the_review_queue(
    users: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Jon Smith's email matches no one, so the import creates him; his phone and name are John Smith's
    (already here): the duplicate scan the finished import queues puts the pair in /duplicates/."""
    from rapport.duplicates.models import DuplicateCandidate
    from rapport.jobs.worker import Worker

    admin = users["admin"]
    john = write(
        "people",
        {"first_name": "John", "last_name": "Smith", "emails": [{"email": "john@acme.example"}],
         "phones": [{"number": "+1 303 555 0101"}]},
        actor=admin,
    )  # fmt: skip
    text = "First name,Last name,Email,Phone\nJon,Smith,jon.smith@other.example,(303) 555-0101\n"
    with django_capture_on_commit_callbacks(execute=True):
        imp = run(upload(admin, text))
    assert (imp.status, imp.created) == ("done", 1)
    jon = Person.objects.get(first_name="Jon")
    Worker(worker_id="test-worker").run_pending()
    pair = DuplicateCandidate.objects.get()
    assert {pair.record_a, pair.record_b} == {john.pk, jon.pk}
    assert pair.status == "open" and "same phone" in pair.reasons
    client = Client()
    client.force_login(admin)
    page = client.get(f"/import/{imp.pk}/").content.decode()
    assert 'href="/duplicates/?type=people"' in page
