"""Company and Person, with a person's emails and phones as child rows."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models import Q
from django.db.models.functions import Lower

from rapport.core import rowsql
from rapport.core.models import Record
from rapport.core.normalize import format_phone, phone_search_terms
from rapport.core.visibility import search_label

LIVE = Q(deleted_at__isnull=True)

SIZE_BANDS = [
    ("1-10", "1–10"),
    ("11-50", "11–50"),
    ("51-200", "51–200"),
    ("201-500", "201–500"),
    ("501-1000", "501–1,000"),
    ("1001-5000", "1,001–5,000"),
    ("5001+", "5,001+"),
]
LIFECYCLE_STAGES = [
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("mql", "Marketing-qualified lead"),
    ("sql", "Sales-qualified lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
]
LEAD_STATUSES = [
    ("new", "New"),
    ("open", "Open"),
    ("in_progress", "In progress"),
    ("attempted", "Attempted to contact"),
    ("connected", "Connected"),
    ("bad_timing", "Bad timing"),
    ("unqualified", "Unqualified"),
]
PHONE_KINDS = [("mobile", "Mobile"), ("work", "Work"), ("home", "Home"), ("other", "Other")]


def _live_index(name: str, *fields: str) -> models.Index:
    return models.Index(fields=list(fields), name=name, condition=LIVE)


class Company(Record):
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, blank=True, default="")
    website = models.CharField(max_length=500, blank=True, default="")
    industry = models.CharField(max_length=100, blank=True, default="")
    size_band = models.CharField(max_length=20, blank=True, default="", choices=SIZE_BANDS)
    phone = models.CharField(max_length=20, blank=True, default="")
    street = models.CharField(max_length=200, blank=True, default="")
    city = models.CharField(max_length=100, blank=True, default="")
    region = models.CharField(max_length=100, blank=True, default="")
    postal_code = models.CharField(max_length=20, blank=True, default="")
    country = models.CharField(max_length=100, blank=True, default="")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")

    class Meta:
        verbose_name_plural = "companies"
        constraints = [
            models.UniqueConstraint(Lower("domain"), name="company_live_domain_unique", condition=LIVE & ~Q(domain=""))
        ]
        indexes = [
            _live_index("company_created_idx", "created_at", "id"),
            _live_index("company_updated_idx", "updated_at", "id"),
            _live_index("company_name_idx", "name", "id"),
            _live_index("company_owner_idx", "owner", "created_at", "id"),
            _live_index("company_team_idx", "team", "created_at", "id"),
            models.Index(fields=["deleted_at"], name="company_bin_idx", condition=~LIVE),
        ]

    def __str__(self) -> str:
        return self.name

    def search_document(self) -> tuple[str, str, str]:
        idents = " ".join(x for x in (self.domain, phone_search_terms(self.phone) if self.phone else "") if x)
        body = " ".join(x for x in (self.industry, self.city, self.country) if x)
        return (self.name, body, idents)

    @property
    def phone_display(self) -> str:
        return format_phone(self.phone) if self.phone else ""

    def integrity_error_message(self, exc: Exception) -> dict[str, str]:
        if "domain" in str(exc).lower():
            return {"domain": f"Another company already has the domain {self.domain}."}
        return super().integrity_error_message(exc)

    def on_restore(self) -> None:
        if self.domain and Company.objects.live().filter(domain__iexact=self.domain).exclude(pk=self.pk).exists():
            raise ValidationError(
                {"domain": f"Another live company has the domain {self.domain}; change one of them first."}
            )


class Person(Record):
    first_name = models.CharField(max_length=100, blank=True, default="")
    last_name = models.CharField(max_length=100, blank=True, default="")
    primary_email = models.CharField(max_length=254, blank=True, default="")
    primary_phone = models.CharField(max_length=20, blank=True, default="")
    job_title = models.CharField(max_length=150, blank=True, default="")
    company = models.ForeignKey(Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="people")
    lifecycle_stage = models.CharField(max_length=20, choices=LIFECYCLE_STAGES, default="lead")
    lead_status = models.CharField(max_length=20, choices=LEAD_STATUSES, blank=True, default="")
    source = models.CharField(max_length=100, blank=True, default="")
    # A postal address, like a company's (duplicate detection compares postal code and street). The
    # database default lets bulk loaders that name their columns leave it out.
    street = models.CharField(max_length=200, blank=True, default="", db_default="")
    city = models.CharField(max_length=100, blank=True, default="", db_default="")
    region = models.CharField(max_length=100, blank=True, default="", db_default="")
    postal_code = models.CharField(max_length=20, blank=True, default="", db_default="")
    country = models.CharField(max_length=100, blank=True, default="", db_default="")

    related_write_keys = frozenset({"emails", "phones"})
    # Copies of the first email and phone, kept for fast lists; history tracks the lists.
    bookkeeping = Record.bookkeeping | {"primary_email", "primary_phone"}

    class Meta:
        verbose_name_plural = "people"
        indexes = [
            _live_index("person_created_idx", "created_at", "id"),
            _live_index("person_updated_idx", "updated_at", "id"),
            _live_index("person_last_name_idx", "last_name", "id"),
            _live_index("person_first_name_idx", "first_name", "id"),
            _live_index("person_email_idx", "primary_email", "id"),
            # the duplicate check's candidates at one postal code
            _live_index("person_postcode_idx", "postal_code", "last_name"),
            _live_index("person_owner_stage_idx", "owner", "lifecycle_stage", "created_at", "id"),
            _live_index("person_stage_idx", "lifecycle_stage", "created_at", "id"),
            _live_index("person_team_idx", "team", "created_at", "id"),
            models.Index(fields=["deleted_at"], name="person_bin_idx", condition=~LIVE),
        ]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.primary_email or f"#{self.pk}"

    # --- emails and phones as part of the record ---------------------------------------------
    def related_snapshot(self) -> dict[str, Any]:
        if self.pk is None:
            return {"emails": [], "phones": []}
        return {
            "emails": [e.email for e in self.emails.all()],
            "phones": [p.number for p in self.phones.all()],
        }

    def pending_snapshot(self, pending: dict[str, Any]) -> dict[str, Any]:
        out = {}
        if "emails" in pending:
            out["emails"] = [e["email"] for e in _primary_first(pending["emails"])]
        if "phones" in pending:
            out["phones"] = [p["number"] for p in _primary_first(pending["phones"])]
        return out

    def prepare_write(self, before: dict[str, Any] | None, pending: dict[str, Any]) -> None:
        # The list copies are set before the row is written (no second UPDATE after the children).
        if "emails" in pending:
            emails = _primary_first(pending["emails"])
            self.primary_email = emails[0]["email"] if emails else ""
        if "phones" in pending:
            phones = _primary_first(pending["phones"])
            self.primary_phone = phones[0]["number"] if phones else ""

    def write_related(self, data: dict[str, Any], *, created: bool = False) -> None:
        if "emails" in data:
            if not created:
                self.emails.all().delete()
            rows = [
                PersonEmail(person=self, email=e["email"], is_primary=i == 0, position=i, live=True)
                for i, e in enumerate(_primary_first(data["emails"]))
            ]
            self.cache_related("emails", _insert_emails(rows))
        if "phones" in data:
            if not created:
                self.phones.all().delete()
            phone_rows = [
                PersonPhone(
                    person=self, number=p["number"], kind=p.get("kind") or "work", is_primary=i == 0, position=i
                )
                for i, p in enumerate(_primary_first(data["phones"]))
            ]
            self.cache_related("phones", rowsql.insert_many(phone_rows))  # bulk_create's INSERT, built once

    @classmethod
    def write_related_in_bulk(cls, records: list[Record], data: list[dict[str, Any]]) -> None:
        """Many new people's emails in one INSERT and phones in one more (imports): an address another
        live person has refuses the whole write, naming it, as for one person."""
        emails: list[PersonEmail] = []
        phones: list[PersonPhone] = []
        for person, children in zip(records, data, strict=True):
            assert isinstance(person, Person)
            emails += [
                PersonEmail(person=person, email=e["email"], is_primary=i == 0, position=i, live=True)
                for i, e in enumerate(_primary_first(children.get("emails", [])))
            ]
            phones += [
                PersonPhone(
                    person=person, number=p["number"], kind=p.get("kind") or "work", is_primary=i == 0, position=i
                )
                for i, p in enumerate(_primary_first(children.get("phones", [])))
            ]
        for start in range(0, len(emails), 1000):
            _insert_emails(emails[start : start + 1000])
        if phones:
            PersonPhone.objects.bulk_create(phones, batch_size=1000)
        by_person_emails: dict[int, list[PersonEmail]] = {}
        by_person_phones: dict[int, list[PersonPhone]] = {}
        for e in emails:
            by_person_emails.setdefault(e.person_id, []).append(e)
        for p in phones:
            by_person_phones.setdefault(p.person_id, []).append(p)
        for person in records:
            person.cache_related("emails", by_person_emails.get(person.pk, []))
            person.cache_related("phones", by_person_phones.get(person.pk, []))

    def api_extra(self, viewer: Any) -> dict[str, Any]:
        return {
            "emails": [{"email": e.email, "primary": e.is_primary} for e in self.emails.all()],
            "phones": [{"number": p.number, "kind": p.kind, "primary": p.is_primary} for p in self.phones.all()],
        }

    def on_soft_delete(self) -> None:
        self.emails.update(live=False)

    def on_restore(self) -> None:
        mine = list(self.emails.values_list("email", flat=True))
        taken = PersonEmail.objects.filter(email__in=mine, live=True).exclude(person=self).first()
        if taken:
            raise ValidationError(
                {"emails": f"{taken.email} now belongs to another live person; change one of them first."}
            )
        self.emails.update(live=True)

    def integrity_error_message(self, exc: Exception) -> dict[str, str]:
        return {"emails": "One of these email addresses belongs to another person."}

    def search_document(self) -> tuple[str, str, str]:
        emails = [e.email for e in self.emails.all()]
        phones = [phone_search_terms(p.number) for p in self.phones.all()]
        company = search_label(self, self.company) if self.company_id else ""
        body = " ".join(x for x in (self.job_title, company, self.city, self.country, *emails) if x)
        return (self.full_name, body, " ".join(emails + phones))

    @property
    def phone_display(self) -> str:
        return format_phone(self.primary_phone) if self.primary_phone else ""


def _insert_emails(rows: list[PersonEmail]) -> list[PersonEmail]:
    """Insert a person's addresses in one statement; an address another live person has is left
    out by the unique index (ON CONFLICT DO NOTHING) and refused here, naming it, which rolls the
    write back. This is the uniqueness check: no SELECT before every write (the constraint is the
    rule, and it holds under concurrent writes too)."""
    if not rows:
        return []
    table = PersonEmail._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    params: list[Any] = []
    for r in rows:
        params += [r.person_id, r.email, r.is_primary, r.position, r.live]
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {table} (person_id, email, is_primary, position, live) VALUES {values} "  # noqa: S608
            "ON CONFLICT DO NOTHING RETURNING id, email",
            params,
        )
        inserted = dict((email, pk) for pk, email in cur.fetchall())
    taken = [r.email for r in rows if r.email not in inserted]
    if taken:
        raise ValidationError({"emails": [f"{email} belongs to another person." for email in taken]})
    for r in rows:
        r.pk = inserted[r.email]
        r._state.adding = False
    return rows


def _primary_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    primary = [i for i in items if i.get("primary")]
    rest = [i for i in items if not i.get("primary")]
    return primary + rest


class PersonEmail(models.Model):
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="emails")
    email = models.CharField(max_length=254)
    is_primary = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)
    # False while the person is in the recycle bin, so the address can be reused meanwhile.
    live = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["email"], name="person_email_live_unique", condition=Q(live=True))
        ]
        indexes = [models.Index(fields=["email"], name="person_email_lookup_idx")]


class PersonPhone(models.Model):
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="phones")
    number = models.CharField(max_length=20)
    kind = models.CharField(max_length=10, choices=PHONE_KINDS, default="work")
    is_primary = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["number"], name="person_phone_lookup_idx")]

    @property
    def display(self) -> str:
        return format_phone(self.number)
