"""Write validation of companies and people, shared by the API, the pages and imports."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from rapport.core.normalize import normalize_domain, normalize_email, normalize_phone, normalize_url
from rapport.core.serializers import (
    EntrySerializer,
    RecordLinkField,
    RecordWriteSerializer,
    actor_of,
)
from rapport.core.visibility import linkable

from .models import PHONE_KINDS, Company, Person

MAX_EMAILS = 20
MAX_PHONES = 20


class CompanyWriteSerializer(RecordWriteSerializer):
    # A declared field named like DRF's Field.parent attribute: DRF's metaclass keeps it apart.
    parent = RecordLinkField(Company, required=False, allow_null=True)  # type: ignore[assignment]

    class Meta:
        model = Company
        fields = (
            "name",
            "domain",
            "website",
            "industry",
            "size_band",
            "phone",
            "street",
            "city",
            "region",
            "postal_code",
            "country",
            "parent",
            *RecordWriteSerializer.base_fields,
        )

    def validate_name(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Give the company a name.")
        return value.strip()

    def validate_domain(self, value: str) -> str:
        try:
            domain = normalize_domain(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))
        if domain:
            clash = Company.objects.live().filter(domain__iexact=domain)
            if self.instance is not None:
                clash = clash.exclude(pk=self.instance.pk)
            other = clash.only("pk", "name").first()
            if other:
                # Name the other company only to whoever may see it.
                if linkable(Company, actor_of(self)).filter(pk=other.pk).exists():
                    raise serializers.ValidationError(f"{other.name} (#{other.pk}) already has the domain {domain}.")
                raise serializers.ValidationError(f"Another company already has the domain {domain}.")
        return domain

    def validate_website(self, value: str) -> str:
        if not value.strip():
            return ""
        try:
            return normalize_url(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))

    def validate_phone(self, value: str) -> str:
        if not value.strip():
            return ""
        try:
            return normalize_phone(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))

    def validate_parent(self, value: Company | None) -> Company | None:
        if value is None or self.instance is None:
            return value
        node: Company | None = value
        for _ in range(100):
            if node is None:
                break
            if node.pk == self.instance.pk:
                raise serializers.ValidationError("A company cannot be its own parent or ancestor.")
            node = node.parent
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if attrs.get("website") and not attrs.get("domain") and "domain" not in self.initial_data:
            if self.instance is None or not self.instance.domain:
                attrs["domain"] = self.validate_domain(attrs["website"])
        return attrs


class EmailEntrySerializer(EntrySerializer):
    email = serializers.CharField(max_length=254)
    primary = serializers.BooleanField(required=False, default=False)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            data = {"email": data}
        return super().to_internal_value(data)

    def validate_email(self, value: str) -> str:
        try:
            return normalize_email(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))


class PhoneEntrySerializer(EntrySerializer):
    number = serializers.CharField(max_length=40)
    kind = serializers.ChoiceField(choices=PHONE_KINDS, required=False, default="work")
    primary = serializers.BooleanField(required=False, default=False)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            data = {"number": data}
        return super().to_internal_value(data)

    def validate_number(self, value: str) -> str:
        try:
            return normalize_phone(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc))


class PersonWriteSerializer(RecordWriteSerializer):
    company = RecordLinkField(Company, required=False, allow_null=True)
    emails = EmailEntrySerializer(many=True, required=False, max_length=MAX_EMAILS)  # type: ignore[call-arg]
    phones = PhoneEntrySerializer(many=True, required=False, max_length=MAX_PHONES)  # type: ignore[call-arg]

    class Meta:
        model = Person
        fields = (
            "first_name",
            "last_name",
            "emails",
            "phones",
            "job_title",
            "company",
            "lifecycle_stage",
            "lead_status",
            "source",
            "street",
            "city",
            "postal_code",
            "region",
            "country",
            *RecordWriteSerializer.base_fields,
        )

    def validate_emails(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if sum(1 for e in value if e.get("primary")) > 1:
            raise serializers.ValidationError("Only one email can be primary.")
        seen: set[str] = set()
        errors: list[dict[str, Any]] = []
        for entry in value:
            if entry["email"] in seen:
                errors.append({"email": [f"{entry['email']} is listed twice."]})
            else:
                errors.append({})
            seen.add(entry["email"])
        # An address another live person has is refused by the write itself (Person.write_related:
        # the unique index decides, in the same statement that stores the addresses).
        if any(errors):
            raise serializers.ValidationError(errors)
        return value

    def validate_phones(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if sum(1 for p in value if p.get("primary")) > 1:
            raise serializers.ValidationError("Only one phone can be primary.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        first = attrs.get("first_name", self.instance.first_name if self.instance else "")
        last = attrs.get("last_name", self.instance.last_name if self.instance else "")
        emails = (
            attrs.get("emails")
            if "emails" in attrs
            else ([{"email": self.instance.primary_email}] if self.instance and self.instance.primary_email else [])
        )
        if not (first or "").strip() and not (last or "").strip() and not emails:
            raise serializers.ValidationError({"first_name": "Give at least a name or an email address."})
        return attrs
