"""The full export's round trip: the demo data set → export zip → an installation emptied of records,
custom fields and most users → ``rapport import export.zip`` → every record's values and links equal,
compared by natural values (names, user names), never by ids."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from rapport.core import registry
from rapport.core.models import CustomField, Event, SearchEntry
from rapport.imports import fullexport, fullload

# Values the system sets at the moment of a write, not data the user gave: they differ after any load.
SYSTEM_SET = {"done_at", "stage_entered_at"}


def _titles() -> dict[tuple[str, int], str]:
    """The title of every live record: the natural value a link to it is compared by. A link to a binned
    record is not exported (the binned record is not), so it compares as no link."""
    out = {}
    for rtype in registry.all_types():
        for record in rtype.model.objects.live():
            out[(rtype.key, record.pk)] = " ".join(str(getattr(record, f) or "") for f in rtype.title_fields)
    return out


def _child_fields(rtype: Any, list_name: str) -> dict[str, Any]:
    serializer = rtype.get_serializer_class()(context={"actor": None})
    child = getattr(serializer.fields[list_name], "child", None)
    return dict(getattr(child, "fields", {}))


def natural_state() -> dict[str, Counter[str]]:
    """Every live record of every type as JSON with links as the linked record's title, users as their
    user name and settings rows as their name; a multiset per type."""
    user_model = get_user_model()
    users = dict(user_model.objects.values_list("pk", "username"))
    titles = _titles()
    admin = user_model.objects.get(username="admin")
    out: dict[str, Counter[str]] = {}
    for rtype in registry.all_types():
        model = rtype.model
        fks = {f.name: f.related_model for f in model._meta.concrete_fields if f.is_relation}
        defs = list(CustomField.objects.filter(record_type=rtype.key))
        refs = {d.key: d.reference_type for d in defs if d.field_type == "reference"}
        user_fields = {d.key for d in defs if d.field_type == "user"}
        state: Counter[str] = Counter()
        for record in model.objects.live():
            snap = record.field_snapshot()
            for name in SYSTEM_SET:
                snap.pop(name, None)
            for name, related in fks.items():
                if snap.get(name) is None:
                    continue
                if related is user_model:
                    snap[name] = users[snap[name]]
                elif hasattr(related, "record_type_key"):
                    snap[name] = titles.get((related.record_type_key, snap[name]))
                else:
                    snap[name] = str(related.objects.get(pk=snap[name]))
            custom = {}
            for key, value in (snap.get("custom") or {}).items():
                if key in user_fields and value is not None:
                    value = users[value]
                elif key in refs and value is not None:
                    value = titles.get((refs[key], value))
                    if value is None:
                        continue
                custom[key] = value
            snap["custom"] = custom
            for key, entries in record.api_extra(admin).items():
                if not isinstance(entries, list):
                    continue
                fields = _child_fields(rtype, key)
                named = []
                for entry in entries:
                    entry, keep = dict(entry), True
                    for k, v in list(entry.items()):
                        if isinstance(v, dict) and "id" in v:
                            title = titles.get((_link_type(rtype, key, k), v["id"]))
                            if title is None and fields[k].required:
                                keep = False
                            entry[k] = title
                    if "type" in entry and "id" in entry:
                        entry["id"] = titles.get((entry["type"], entry["id"]))
                        keep = entry["id"] is not None
                    if keep:
                        named.append(entry)
                snap[key] = sorted(named, key=lambda e: json.dumps(e, sort_keys=True, default=str))
            state[json.dumps(snap, sort_keys=True, default=str)] += 1
        out[rtype.key] = state
    return out


def _link_type(rtype: Any, list_name: str, field_name: str) -> str:
    links, _ = fullload._child_links(rtype, list_name)
    return links[field_name]


def empty_installation(keep: set[str]) -> None:
    """Remove every record (with its history and search entries), the custom field definitions and the
    users not in ``keep``: what a new installation has, apart from the administrator loading the zip."""
    Event.objects.all().delete()
    SearchEntry.objects.all().delete()
    for rtype in reversed(list(fullexport.load_order())):
        rtype.model.objects.all().delete()
    for field in CustomField.objects.all():
        field.delete()
    get_user_model().objects.exclude(username__in=keep).delete()


@pytest.mark.django_db(transaction=False)
def test_demo_data_survives_export_and_load(tmp_path: Path) -> None:
    call_command("demo", stdout=io.StringIO())
    before = natural_state()
    assert sum(sum(c.values()) for c in before.values()) > 500
    admin = get_user_model().objects.get(username="admin")
    path = tmp_path / "everything.zip"
    with open(path, "wb") as handle:
        manifest = fullexport.write_full_export(handle, user=admin)
    counts = {t["key"]: t["count"] for t in manifest["types"]}

    empty_installation(keep={"admin"})
    result = fullload.load_full_export(path, actor=get_user_model().objects.get(username="admin"))
    assert result.problems == []
    assert {i["type"]: i["created"] for i in result.imports} == counts
    assert len(result.users_created) == get_user_model().objects.count() - 1

    after = natural_state()
    for key in before:
        missing = before[key] - after[key]
        extra = after[key] - before[key]
        assert not missing and not extra, (key, list(missing)[:2], list(extra)[:2])

    # Loading again into what is now not empty is refused.
    with pytest.raises(fullexport.FullExportError, match="already holds"):
        fullload.load_full_export(path, actor=get_user_model().objects.get(username="admin"))


def test_the_commands_export_and_load(users: dict[str, Any], tmp_path: Path) -> None:
    """rapport export --all, then rapport import FILE.zip into the emptied installation: a company and its
    parent, a person with two emails, a deal with that contact, an activity linked to both."""
    from tests.conftest import write

    admin = users["admin"]
    parent = write("companies", {"name": "Holding"}, actor=admin)
    acme = write("companies", {"name": "Acme", "parent": parent.pk}, actor=users["member"])
    ada = write(
        "people",
        {"first_name": "Ada", "emails": ["ada@acme.com", "ada@home.example"], "company": acme.pk},
        actor=users["member"],
    )
    deal = write("deals", {"title": "=SUM(1)", "company": acme.pk, "contacts": [{"person": ada.pk}]}, actor=admin)
    write(
        "activities",
        {
            "kind": "note",
            "subject": "Met",
            "links": [{"type": "deals", "id": deal.pk}, {"type": "people", "id": ada.pk}],
        },
        actor=admin,
    )
    before = natural_state()
    target = tmp_path / "all.zip"
    call_command("export", str(target), "--all", "--user", "admin", stdout=io.StringIO())
    empty_installation(keep={"admin"})
    out = io.StringIO()
    call_command("import", str(target), "--user", "admin", stdout=out)
    text = out.getvalue()
    assert "companies: 2 created, 0 rejected" in text
    assert "people: 1 created, 0 rejected" in text
    assert "5 users and 0 settings created" in text  # the other conftest users, created again
    assert natural_state() == before
    with pytest.raises(CommandError, match="already holds 2 companies"):
        call_command("import", str(target), "--user", "admin", stdout=io.StringIO())
