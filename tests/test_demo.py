"""``rapport demo``: the small data set goes through the write path; the bulk path leaves
rows, events and the search index consistent."""

from __future__ import annotations

import io
import stat
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command

from rapport.accounts.models import User
from rapport.contacts.models import Company, Person, PersonEmail, PersonPhone
from rapport.core import search
from rapport.core.models import Event, SearchEntry
from rapport.core.search import document_for

from .conftest import write


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("demo", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_if_empty_loads_realistic_data_with_history_once() -> None:
    run("--if-empty")
    people, companies = Person.objects.count(), Company.objects.count()
    assert people == 400 and companies == 60

    # Written through the services: every record has a created event and (if live) a search entry.
    assert Event.objects.filter(kind="created", type_key="people").count() == 400
    assert Event.objects.filter(kind="updated", type_key="people").exists()
    assert Person.objects.deleted().count() >= 2
    assert Company.objects.deleted().count() >= 1
    assert SearchEntry.objects.filter(type_key="people").count() == Person.objects.live().count()
    person = Person.objects.live().filter(lifecycle_stage="customer").first()
    assert person is not None and person.primary_email and person.primary_phone.startswith("+")
    assert person.team_id == person.owner.team_id

    # Logins saved privately for `rapport serve` to print.
    login = settings.DATA_DIR / "demo-login.txt"
    text = login.read_text()
    assert text.startswith("admin / ") and "http://127.0.0.1:8000" in text
    assert stat.S_IMODE(login.stat().st_mode) == 0o600
    password = text.split(" / ")[1].split()[0]
    admin = User.objects.get(username="admin")
    assert admin.check_password(password) and admin.role.key == "admin"
    assert {u.role.key for u in User.objects.all()} == {"admin", "manager", "member", "read-only"}

    # Search finds a demo person through the one search interface.
    hits = search.search(admin, person.last_name)
    assert person.pk in {h.record_id for h in hits if h.type_key == "people"} or len(hits) == 20

    # A second run changes nothing.
    events = Event.objects.count()
    assert "already has" in run("--if-empty")
    assert Person.objects.count() == people and Event.objects.count() == events


@pytest.mark.django_db
def test_bulk_load_is_consistent(users: dict[str, User]) -> None:
    out = run("--people", "300", "--companies", "30", "--batch", "70")
    assert "100% overall" in out and "Loaded 30 companies and 300 people" in out
    assert Company.objects.count() == 30 and Person.objects.count() == 300

    emails = list(PersonEmail.objects.values_list("email", flat=True))
    assert len(emails) == 300 == len(set(emails))
    assert not Person.objects.filter(primary_email="").exists()
    assert PersonPhone.objects.count() == 300
    people_ids = set(Person.objects.values_list("id", flat=True))
    created = set(Event.objects.filter(type_key="people", kind="created").values_list("record_id", flat=True))
    assert created == people_ids
    assert Event.objects.filter(type_key="companies", kind="created").count() == 30

    # Owners are the existing sellers; the team is the owner's team (visibility depends on it).
    sample = Person.objects.select_related("owner").prefetch_related("emails", "phones").order_by("id")[:50]
    for p in sample:
        assert p.owner is not None and p.team_id == p.owner.team_id
        # The bulk search document is the one the write path would have stored.
        entry = SearchEntry.objects.get(type_key="people", record_id=p.pk)
        doc = document_for(p)
        assert (entry.title, entry.body, entry.identifiers) == (doc["title"], doc["body"], doc["identifiers"])
        assert (entry.owner_id, entry.team_id) == (doc["owner_id"], doc["team_id"])
    company = Company.objects.order_by("id").first()
    assert company is not None
    entry = SearchEntry.objects.get(type_key="companies", record_id=company.pk)
    doc = document_for(company)
    assert (entry.title, entry.body, entry.identifiers) == (doc["title"], doc["body"], doc["identifiers"])

    # Search finds a generated person by name, part of the email and the phone.
    admin = users["admin"]
    p = sample[0]
    local = p.primary_email.split("@")[0]

    def found(query: str, pk: int, user: Any = admin) -> bool:
        return pk in {h.record_id for h in search.search(user, query, types=["people"], limit=50)}

    assert (
        found(f"{p.first_name} {p.last_name}", p.pk)
        or Person.objects.filter(first_name=p.first_name, last_name=p.last_name).count() > 50
    )
    assert found(local[-8:], p.pk)
    assert found(p.primary_phone[-7:], p.pk)

    # Visibility: a member sees own team's people only.
    member = users["member"]
    visible = Person.objects.visible_to(member)
    assert visible.exists() and not visible.exclude(team_id=member.team_id).exclude(owner=member).exists()
    outsider_person = Person.objects.exclude(team_id=member.team_id).first()
    assert outsider_person is not None
    assert found(outsider_person.primary_email, outsider_person.pk)
    assert not found(outsider_person.primary_email, outsider_person.pk, member)

    # Ids continue after the bulk load: the normal write path still works.
    new = write("people", {"first_name": "After", "emails": ["after@bulk.example"]}, actor=admin)
    assert new.pk > max(people_ids)


@pytest.mark.django_db
def test_bulk_load_creates_sellers_when_none(db: Any) -> None:
    run("--people", "20", "--companies", "5")
    owners = User.objects.filter(pk__in=Person.objects.values("owner_id"))
    assert owners.exists() and all(u.team_id for u in owners)


@pytest.mark.django_db
def test_bulk_load_rejects_bad_sizes(db: Any) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="companies"):
        run("--people", "10")
    assert not Person.objects.exists()
