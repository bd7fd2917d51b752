"""Tables shared by every record type: the record base, events (history and outbox), custom field
definitions, saved views and the search index."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone


class RecordQuerySet(models.QuerySet):
    def live(self) -> RecordQuerySet:
        return self.filter(deleted_at__isnull=True)

    def deleted(self) -> RecordQuerySet:
        return self.filter(deleted_at__isnull=False)

    def visible_to(self, user: Any, action: str = "view", *, deleted: bool = False) -> RecordQuerySet:
        """The one visibility rule: records ``user`` may ``action``, live (or in the bin)."""
        from .visibility import scope_q

        q = scope_q(user, self.model.record_type_key, action)  # type: ignore[attr-defined]
        if q is None:
            return (self.deleted() if deleted else self.live()).none()
        # One filter() (one clone, one Q compiled) for the bin condition and the scope: this runs on
        # every list and record request.
        return self.filter(models.Q(deleted_at__isnull=not deleted), q)


class Record(models.Model):
    """Base of every registered record type: owner, team, tags, custom fields, notes, soft delete
    and a version number for optimistic concurrency."""

    record_type_key: ClassVar[str] = ""
    # Fields a write may set; bookkeeping columns are excluded from history diffs.
    bookkeeping: ClassVar[frozenset[str]] = frozenset(
        {"id", "created_at", "updated_at", "deleted_at", "version", "created_by", "team"}
    )

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    tags = models.JSONField(default=list, blank=True)
    custom = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    objects = RecordQuerySet.as_manager()

    class Meta:
        abstract = True

    # --- history --------------------------------------------------------------------------
    @classmethod
    def tracked_fields(cls) -> list[models.Field]:
        return [
            f
            for f in cls._meta.concrete_fields
            if f.name not in cls.bookkeeping and not getattr(f, "primary_key", False)
        ]

    related_write_keys: ClassVar[frozenset[str]] = frozenset()

    def snapshot(self, pending: dict[str, Any] | None = None) -> dict[str, Any]:
        """The record's writable state as JSON values; history diffs compare two snapshots.

        ``pending`` holds child-row values about to be written (see ``related_write_keys``).
        """
        data = self.field_snapshot()
        data.update(self.related_snapshot())
        if pending:
            data.update(self.pending_snapshot(pending))
        return data

    def field_snapshot(self) -> dict[str, Any]:
        """The record's own columns as JSON values, without child rows (no queries)."""
        return {f.name: to_json_value(getattr(self, f.attname)) for f in self.tracked_fields()}

    def related_snapshot(self) -> dict[str, Any]:
        """Child rows (emails, phones...) that belong to the record's history; types override."""
        return {}

    def pending_snapshot(self, pending: dict[str, Any]) -> dict[str, Any]:
        """How ``pending`` child values will look in :meth:`related_snapshot`."""
        return {}

    def related_items(self, name: str) -> Any:
        """The child rows behind a list field of the write serializer, for the detail page."""
        return getattr(self, name).all()

    def api_extra(self, viewer: Any) -> dict[str, Any]:
        """Child rows as the API shows them to ``viewer`` on retrieve; types with children override
        (links to records as ``core.visibility.record_link`` gives them)."""
        return {}

    def integrity_error_message(self, exc: Exception) -> dict[str, str]:
        """Turn a unique-constraint failure into ``{field: message}``; types override."""
        return {"__all__": "This record clashes with another one."}

    def write_related(self, data: dict[str, Any], *, created: bool = False) -> None:
        """Store child rows given in a validated write; types with children override. A new record
        has no child rows yet (``created``): nothing to delete first. Overrides keep what they wrote
        with :meth:`cache_related`, so the history, search entry and answer need not read it back."""

    @classmethod
    def write_related_in_bulk(cls, records: list[Record], data: list[dict[str, Any]]) -> None:
        """:meth:`write_related` for many new records at once (``create_records_in_bulk``); types
        with children override it to write each child table in one statement."""
        for record, children in zip(records, data, strict=True):
            record.write_related(children, created=True)

    def cache_related(self, name: str, rows: list[Any]) -> None:
        """Make ``getattr(self, name).all()`` answer ``rows`` without a query, as prefetch_related
        would (the rows just written by :meth:`write_related`)."""
        manager = getattr(self, name)  # a reverse foreign key's manager
        for row in rows:
            normalize_decimals(row)
        qs = manager._apply_rel_filters(manager.model._base_manager.all())
        qs._result_cache = list(rows)
        qs._prefetch_done = True
        cache = self.__dict__.setdefault("_prefetched_objects_cache", {})
        cache[manager.field.remote_field.cache_name] = qs

    def prepare_write(self, before: dict[str, Any] | None, pending: dict[str, Any]) -> None:
        """Derive fields from the others before a create (``before`` is None) or an update is
        diffed and saved, e.g. a deal's status from its stage; types override."""

    def after_write(self, changes: dict[str, Any], *, actor: Any, source: str, created: bool) -> None:
        """Type-specific rows written in the same transaction after the record, e.g. a deal's
        stage changes; types override."""

    def on_soft_delete(self) -> None:
        """Release what a live record holds (unique emails...); types override."""

    def on_restore(self) -> None:
        """Take back what :meth:`on_soft_delete` released; raise ValidationError on conflict."""

    def search_document(self) -> tuple[str, str, str]:
        """(title, body words, identifiers such as emails and phones) for the search index."""
        return (str(self), "", "")

    @property
    def etag(self) -> str:
        return f'"{self.pk}-{self.version}"'


def normalize_decimals(obj: models.Model) -> None:
    """Give in-memory Decimal values the places their column stores ("0" → "0.00"), so an object
    just written looks exactly like the same object read back."""
    from decimal import Decimal

    for f in obj._meta.concrete_fields:
        if isinstance(f, models.DecimalField):
            value = getattr(obj, f.attname)
            if isinstance(value, Decimal) and value.is_finite():
                setattr(obj, f.attname, value.quantize(Decimal(1).scaleb(-f.decimal_places)))


def to_json_value(value: Any) -> Any:
    from datetime import date, datetime
    from decimal import Decimal

    if isinstance(value, datetime):
        # In UTC as stored, whatever zone a write gave it in (a value just written and the same value
        # read back must compare equal in history diffs and look the same in the API).
        if value.tzinfo is not None:
            from datetime import UTC

            value = value.astimezone(UTC)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


EVENT_SOURCES = ("ui", "api", "import", "automation", "email", "system")


class Event(models.Model):
    """A change to a record, written in the same transaction as the change.

    The single source of field history, timelines and (later) automation and webhooks.
    """

    SOURCES = [(s, s) for s in EVENT_SOURCES]

    occurred_at = models.DateTimeField(default=timezone.now)
    type_key = models.CharField(max_length=40)
    record_id = models.BigIntegerField()
    record_title = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=30)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20, choices=SOURCES)
    request_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    # Kinds that change a record's stored values: each bumps its version by one, so a record's
    # version is the number of these events about it (tests/invariants.py checks it).
    VERSION_KINDS = ("created", "updated", "deleted", "restored")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(source__in=EVENT_SOURCES),
                name="event_source_declared",
            ),
        ]
        indexes = [
            models.Index(fields=["type_key", "record_id", "-id"], name="event_record_idx"),
            models.Index(fields=["id"], name="event_undispatched_idx", condition=models.Q(dispatched_at__isnull=True)),
        ]


class CustomField(models.Model):
    TYPES = [
        ("text", "Text"),
        ("long_text", "Long text"),
        ("number", "Number"),
        ("money", "Money"),
        ("date", "Date"),
        ("datetime", "Date and time"),
        ("boolean", "Yes / no"),
        ("choice", "Choice"),
        ("multi_choice", "Multiple choice"),
        ("email", "Email"),
        ("phone", "Phone"),
        ("url", "URL"),
        ("user", "User"),
        ("reference", "Reference to a record"),
    ]

    record_type = models.CharField(max_length=40)
    key = models.CharField(
        max_length=50,
        validators=[
            RegexValidator(
                r"^[a-z][a-z0-9_]*$", "Use lower-case letters, digits and underscores, starting with a letter."
            )
        ],
    )
    label = models.CharField(max_length=100)
    field_type = models.CharField(max_length=20, choices=TYPES)
    required = models.BooleanField(default=False)
    choices = models.JSONField(default=list, blank=True)
    reference_type = models.CharField(max_length=40, blank=True)
    help_text = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(default=0)
    searchable = models.BooleanField(default=True)
    # An identifier (a customer number, a tax or social security id): two records with the same value
    # are likely the same (the duplicate finder compares it exactly, normalised).
    is_identifier = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["record_type", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["record_type", "key"], name="customfield_unique_key")]

    def __str__(self) -> str:
        return self.label

    def save(self, *args: Any, **kwargs: Any) -> None:
        from .customfields import sync_indexes

        super().save(*args, **kwargs)
        sync_indexes(self.record_type)  # the expression index follows the definition

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        from .customfields import sync_indexes

        result = super().delete(*args, **kwargs)
        sync_indexes(self.record_type)
        return result


class SavedView(models.Model):
    """A list view saved as query parameters: private to its owner or shared with everyone."""

    record_type = models.CharField(max_length=40)
    name = models.CharField(max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    shared = models.BooleanField(default=False)
    params = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]


class BulkChange(models.Model):
    """A bulk action over every record matching a list's filters and search ("select all N
    matching"), worked in keyset batches by a background job (core.bulkedit); the list page polls
    its progress. ``last_id`` commits with each batch, so a retried job resumes where it stopped."""

    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
    STATUSES = [(QUEUED, "Waiting to start"), (RUNNING, "Running"), (DONE, "Done"), (FAILED, "Failed")]

    record_type = models.CharField(max_length=40)
    action = models.CharField(max_length=20)  # core.bulkedit.ACTIONS
    value = models.JSONField(default=dict, blank=True)  # {"owner": id} or {"tag": "..."}
    params = models.TextField(blank=True)  # the list's query string: filters and search
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    max_id = models.BigIntegerField()  # records created after the click are left out
    status = models.CharField(max_length=10, choices=STATUSES, default=QUEUED)
    total = models.IntegerField(default=0)  # matching records the actor may change, counted at the start
    skipped = models.IntegerField(default=0)  # matching records the actor may see but not change
    done = models.IntegerField(default=0)  # records worked through so far
    changed = models.IntegerField(default=0)  # of those, records that changed (an event each)
    last_id = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    @property
    def percent(self) -> int:
        if self.status == self.DONE:
            return 100
        return min(100, self.done * 100 // self.total) if self.total else 0


class SearchEntry(models.Model):
    """One row per live record in global search. On SQLite two FTS5 tables mirror it by
    trigger; on PostgreSQL a generated tsvector column and trigram indexes sit on it."""

    type_key = models.CharField(max_length=40)
    record_id = models.BigIntegerField()
    owner_id = models.BigIntegerField(null=True)
    team_id = models.BigIntegerField(null=True)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    identifiers = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["type_key", "record_id"], name="searchentry_unique_record")]


class AuditEntry(models.Model):
    """A change to the installation's settings (users, teams, roles, pipelines, stages, rates,
    quotas, custom fields, API tokens), written by the settings services in the same transaction
    as the change: who, when, what, and each field before → after. Records have their events;
    settings have this trail, read by administrators on /settings/audit/ and the API."""

    occurred_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)  # kept if the user is deleted
    kind = models.CharField(max_length=30)  # what was changed: "stage", "role"… (see core.audit.KINDS)
    action = models.CharField(max_length=20)  # created, changed, deleted
    object_id = models.BigIntegerField(null=True, blank=True)
    object_label = models.CharField(max_length=300, blank=True)
    changes = models.JSONField(default=dict, blank=True)  # {field: [before, after]}
    # {field: [before, after]} names of the rows a changed link pointed to, as they were then.
    labels = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["kind", "-id"], name="audit_kind_idx"),
            models.Index(fields=["actor", "-id"], name="audit_actor_idx"),
        ]
