"""Registration of companies and people: declarations only, the generic paths do the rest."""

from __future__ import annotations

from rapport.core.registry import Column, Filter, Identity, RecordType, register

from .models import LEAD_STATUSES, LIFECYCLE_STAGES, SIZE_BANDS, Company, Person


def _company_serializer() -> type:
    from .serializers import CompanyWriteSerializer

    return CompanyWriteSerializer


def _person_api_fields() -> dict:
    from rest_framework import serializers

    email = type(
        "PersonEmailSerializer",
        (serializers.Serializer,),
        {"email": serializers.EmailField(), "primary": serializers.BooleanField()},
    )
    phone = type(
        "PersonPhoneSerializer",
        (serializers.Serializer,),
        {"number": serializers.CharField(), "kind": serializers.CharField(), "primary": serializers.BooleanField()},
    )
    return {"emails": email(many=True), "phones": phone(many=True)}


def _person_serializer() -> type:
    from .serializers import PersonWriteSerializer

    return PersonWriteSerializer


COMMON_COLUMNS = [
    Column("owner", "Owner", "owner", kind="user"),
    Column("tags", "Tags", "tags", kind="tags"),
    Column("created_at", "Created", "created_at", kind="datetime", sortable=True, default=False),
    Column("updated_at", "Updated", "updated_at", kind="datetime", sortable=True),
]
COMMON_FILTERS = [
    Filter("owner", "Owner", "owner_id", kind="user"),
    Filter("team", "Team", "team_id", kind="team"),
    Filter("tag", "Tag", "tags", kind="tag"),
    Filter("created", "Created", "created_at", kind="date_range"),
    Filter("updated", "Updated", "updated_at", kind="date_range"),
]

companies = register(
    RecordType(
        key="companies",
        model=Company,
        label="Company",
        label_plural="Companies",
        icon="building",
        title_fields=("name",),
        serializer=_company_serializer,
        columns=[
            Column("name", "Name", "name", sortable=True),
            Column("domain", "Domain", "domain", sortable=True),
            Column("industry", "Industry", "industry", sortable=True),
            Column("size_band", "Size", "size_band", kind="choice", choices=tuple(SIZE_BANDS)),
            Column("phone", "Phone", "phone", kind="phone", default=False),
            Column("city", "City", "city", sortable=True, default=False),
            Column("country", "Country", "country", sortable=True),
            Column("website", "Website", "website", kind="url", default=False),
            Column("parent", "Parent company", "parent", kind="record", link_type="companies", default=False),
            *COMMON_COLUMNS,
        ],
        filters=[
            Filter("industry", "Industry", "industry", kind="exact"),
            Filter("size_band", "Size", "size_band", kind="choice", choices=tuple(SIZE_BANDS)),
            Filter("country", "Country", "country", kind="exact"),
            Filter("parent", "Parent company", "parent_id", kind="record", link_type="companies"),
            Filter("has_domain", "Has a domain", "domain", kind="present"),
            Filter("has_phone", "Has a phone", "phone", kind="present"),
            Filter("has_industry", "Has an industry", "industry", kind="present"),
            *COMMON_FILTERS,
        ],
        related=[("people", "company")],
        identity=Identity(
            name="name", domain="domain", phones="phone", street="street", city="city", postal_code="postal_code"
        ),
        import_match={"domain": "domain"},
        detail_main=["activities/timeline_section.html"],
        detail_sections=["deals/deals_section.html", "invoices/section.html"],
        detail_history=False,  # the timeline's Changes tab shows the history
        example={
            "name": "Globex Corporation",
            "website": "https://www.globex.example.com",
            "industry": "Manufacturing",
            "size_band": "201-500",
            "phone": "+1 212 555 0100",
            "city": "Springfield",
            "country": "United States",
            "tags": ["key account"],
        },
    )
)

people = register(
    RecordType(
        key="people",
        model=Person,
        label="Person",
        label_plural="People",
        icon="user",
        title_fields=("first_name", "last_name"),
        serializer=_person_serializer,
        columns=[
            Column("first_name", "First name", "first_name", sortable=True),
            Column("last_name", "Last name", "last_name", sortable=True),
            Column("email", "Email", "primary_email", kind="email", sortable=True),
            Column("phone", "Phone", "primary_phone", kind="phone"),
            Column("job_title", "Job title", "job_title", default=False),
            Column("company", "Company", "company", kind="record", link_type="companies"),
            Column(
                "lifecycle_stage",
                "Lifecycle stage",
                "lifecycle_stage",
                kind="choice",
                choices=tuple(LIFECYCLE_STAGES),
                sortable=True,
            ),
            Column(
                "lead_status", "Lead status", "lead_status", kind="choice", choices=tuple(LEAD_STATUSES), default=False
            ),
            Column("source", "Source", "source", default=False),
            Column("street", "Street", "street", default=False),
            Column("city", "City", "city", default=False),
            Column("postal_code", "Postal code", "postal_code", default=False),
            Column("region", "Region", "region", default=False),
            Column("country", "Country", "country", default=False),
            *COMMON_COLUMNS,
        ],
        filters=[
            Filter(
                "lifecycle_stage", "Lifecycle stage", "lifecycle_stage", kind="choice", choices=tuple(LIFECYCLE_STAGES)
            ),
            Filter("lead_status", "Lead status", "lead_status", kind="choice", choices=tuple(LEAD_STATUSES)),
            Filter("company", "Company", "company_id", kind="record", link_type="companies"),
            Filter("source", "Source", "source", kind="exact"),
            Filter("city", "City", "city", kind="exact"),
            Filter("postal_code", "Postal code", "postal_code", kind="exact"),
            Filter("country", "Country", "country", kind="exact"),
            Filter("has_email", "Has an email", "primary_email", kind="present"),
            Filter("has_phone", "Has a phone", "primary_phone", kind="present"),
            Filter("has_lifecycle_stage", "Has a lifecycle stage", "lifecycle_stage", kind="present"),
            *COMMON_FILTERS,
        ],
        example={
            "first_name": "Grace",
            "last_name": "Hopper",
            "emails": [{"email": "grace@navy.example.org", "primary": True}, "g.hopper@example.com"],
            "phones": [{"number": "+1 415 555 0199", "kind": "mobile"}],
            "job_title": "Rear Admiral",
            "lifecycle_stage": "sql",
            "tags": ["conference"],
        },
        detail_main=["activities/timeline_section.html"],
        detail_sections=["deals/deals_section.html", "sequences/section.html"],
        detail_history=False,  # the timeline's Changes tab shows the history
        prefetch_related=("emails", "phones"),
        identity=Identity(
            first_name="first_name",
            last_name="last_name",
            emails="emails__email",
            phones="phones__number",
            company="company",
            street="street",
            city="city",
            postal_code="postal_code",
        ),
        import_match={"email": "emails__email"},
        api_fields=_person_api_fields,
        select_related=("company",),
    )
)
