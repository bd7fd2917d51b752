"""The write path: events with field diffs, optimistic concurrency, soft delete and restore."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from rapport.contacts.models import Person
from rapport.core import search, services
from rapport.core.errors import PermissionDenied, VersionConflict
from rapport.core.models import Event

from .conftest import write


def test_create_writes_event_and_index(person: Person, users):
    event = Event.objects.get(type_key="people", record_id=person.pk, kind="created")
    assert event.changes["first_name"] == [None, "Ada"]
    assert event.changes["emails"] == [None, ["ada@acme.com"]]
    assert [h.record_id for h in search.search(users["admin"], "lovelace")] == [person.pk]


def test_update_records_only_changed_fields_and_bumps_version(person: Person, users):
    updated = write("people", {"job_title": "Analyst", "last_name": "Lovelace"}, actor=users["member"], instance=person)
    assert updated.version == 2
    event = Event.objects.filter(type_key="people", record_id=person.pk).latest("id")
    assert event.kind == "updated" and event.changes == {"job_title": ["", "Analyst"]}


def test_noop_update_writes_nothing(person: Person, users):
    same = write("people", {"first_name": "Ada"}, actor=users["member"], instance=person)
    assert same.version == 1
    assert Event.objects.filter(type_key="people", record_id=person.pk).count() == 1


def test_stale_version_is_refused_and_nothing_written(person: Person, users):
    with pytest.raises(VersionConflict):
        services.update_record(person, {"job_title": "X"}, actor=users["member"], source="api", expected_version=7)
    person.refresh_from_db()
    assert person.job_title == "" and person.version == 1


def test_outsider_cannot_change(person: Person, users):
    with pytest.raises(PermissionDenied):
        services.update_record(person, {"job_title": "X"}, actor=users["outsider"], source="api")


def test_delete_frees_email_and_restore_detects_clash(person: Person, users):
    services.delete_record(person, actor=users["member"], source="ui")
    assert search.search(users["admin"], "lovelace") == []
    other = write("people", {"first_name": "Other", "emails": ["ADA@acme.com"]}, actor=users["member"])
    assert other.primary_email == "ada@acme.com"
    with pytest.raises(ValidationError) as exc:
        services.restore_record(person, actor=users["admin"], source="ui")
    assert "emails" in exc.value.message_dict
    assert Person.objects.get(pk=person.pk).deleted_at is not None
    services.delete_record(other, actor=users["admin"], source="ui")
    services.restore_record(person, actor=users["admin"], source="ui")
    assert [h.record_id for h in search.search(users["admin"], "lovelace")] == [person.pk]


def test_records_follow_their_owner_to_a_new_team(person, users, teams):
    from rapport.accounts import services as account_services

    member, peer, outsider = users["member"], users["peer"], users["outsider"]
    assert Person.objects.visible_to(peer).filter(pk=person.pk).exists()
    account_services.update_user(member, actor=users["admin"], team=teams["west"])
    person.refresh_from_db()
    assert person.team_id == teams["west"].pk
    assert not Person.objects.visible_to(peer).filter(pk=person.pk).exists()
    assert Person.objects.visible_to(outsider).filter(pk=person.pk).exists()
    assert [h.record_id for h in search.search(outsider, "lovelace")] == [person.pk]
    assert search.search(peer, "lovelace") == []
    account_services.delete_team(teams["west"], actor=users["admin"])
    person.refresh_from_db()
    assert person.team_id is None
    member.refresh_from_db()
    assert Person.objects.visible_to(member).filter(pk=person.pk).exists()  # still their own
