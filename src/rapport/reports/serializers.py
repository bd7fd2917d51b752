"""Write validation of saved reports, dashboards and widgets (the API's bodies; the pages share the
engine's config validation), and the typed schema of a report's result."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from rapport.core.serializers import RejectUnknownFields

from . import engine
from . import standard as standard_reports
from .dashboards import PERIOD_LABELS
from .engine import CHARTS, GRANULARITIES, OPERATIONS, ReportError
from .models import SCHEDULES, SHARING, SIZES, SavedReport

MAX_RECIPIENTS = 100


class GroupingSerializer(serializers.Serializer):
    field = serializers.CharField(
        max_length=60, help_text="A grouping field of the type: owner, team, stage, cf_<key>…"
    )
    granularity = serializers.ChoiceField(
        choices=["", *GRANULARITIES], required=False, allow_blank=True, help_text="Dates only (month by default)."
    )


class MeasureSerializer(serializers.Serializer):
    op = serializers.ChoiceField(choices=OPERATIONS, default="count")
    field = serializers.CharField(max_length=60, required=False, allow_null=True, help_text="A number or money field.")
    weight = serializers.CharField(
        max_length=60, required=False, allow_null=True, help_text="A percent field multiplying each value (sum only)."
    )


class ReportConfigSerializer(serializers.Serializer):
    """A report: the record type, list filters (the list's query string), up to two groupings,
    the measure and the chart."""

    type = serializers.CharField(max_length=40, help_text="A record type key: deals, people, companies…")
    filters = serializers.CharField(
        max_length=engine.MAX_FILTERS_LENGTH,
        required=False,
        allow_blank=True,
        help_text="The list's filters as a query string: `status=open&owner=me&cf_region=EU`.",
    )
    group_by = GroupingSerializer(many=True, required=False, max_length=2)  # type: ignore[call-arg]  # ListSerializer takes it
    measure = MeasureSerializer(required=False)
    chart = serializers.ChoiceField(choices=CHARTS, required=False)
    period_field = serializers.CharField(
        max_length=60, required=False, allow_null=True, help_text="The date filter a dashboard's period narrows."
    )


def validated_config(data: Any, actor: Any, prefix: str = "config") -> engine.Config:
    """The engine's validation of a config; its errors name the field under ``prefix``."""
    try:
        return engine.parse_config(data, actor)
    except ReportError as exc:
        raise serializers.ValidationError({f"{prefix}.{exc.field}" if prefix else exc.field: [exc.message]})


class SavedReportWriteSerializer(RejectUnknownFields, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    sharing = serializers.ChoiceField(choices=[k for k, _ in SHARING], default="private")
    config = ReportConfigSerializer()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        raw = self.initial_data.get("config") if isinstance(self.initial_data, dict) else None
        if raw is not None:
            attrs["config"] = validated_config(raw, self.context["actor"])
        return attrs


class DashboardFiltersSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=list(PERIOD_LABELS), required=False, allow_blank=True)
    owner = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)
    team = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)


class DashboardWriteSerializer(RejectUnknownFields, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    sharing = serializers.ChoiceField(choices=[k for k, _ in SHARING], default="private")
    filters = DashboardFiltersSerializer(required=False)
    schedule = serializers.ChoiceField(choices=[k for k, _ in SCHEDULES], required=False, allow_blank=True)
    recipients = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), required=False, max_length=MAX_RECIPIENTS
    )

    def validate_recipients(self, value: list[int]) -> list[Any]:
        users = list(get_user_model().objects.filter(pk__in=value, is_active=True))
        missing = set(value) - {u.pk for u in users}
        if missing:
            raise serializers.ValidationError(f"There is no active user #{sorted(missing)[0]}.")
        return users


class WidgetWriteSerializer(RejectUnknownFields, serializers.Serializer):
    report = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, required=False, help_text="A saved report you may open (or give standard)."
    )
    standard = serializers.ChoiceField(
        choices=list(standard_reports.ORDER), required=False, help_text="A standard report's key (or give report)."
    )
    size = serializers.ChoiceField(choices=[k for k, _ in SIZES], default="m", help_text="s, m, l or w (wide).")
    target = serializers.ChoiceField(
        choices=["", "quota"], required=False, allow_blank=True, help_text="quota: compare with the period's quotas."
    )

    def validate_report(self, value: int) -> SavedReport:
        report = SavedReport.objects.readable_by(self.context["actor"]).filter(pk=value).first()
        if report is None:
            raise serializers.ValidationError(f"There is no saved report #{value}.")
        return report

    def validate_standard(self, value: str) -> str:
        spec = standard_reports.get(value)
        if spec is None:
            raise serializers.ValidationError(f"There is no standard report {value!r}.")
        if spec.team_leads and not standard_reports.leads_team(self.context["actor"]):
            raise serializers.ValidationError("This report is for team leads and administrators.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("report" in attrs) == ("standard" in attrs):
            raise serializers.ValidationError({"report": ["Give a saved report or a standard report (standard)."]})
        return attrs


class WidgetChangeSerializer(RejectUnknownFields, serializers.Serializer):
    size = serializers.ChoiceField(choices=[k for k, _ in SIZES], required=False)
    target = serializers.ChoiceField(choices=["", "quota"], required=False, allow_blank=True)


class ArrangeSerializer(RejectUnknownFields, serializers.Serializer):
    order = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), max_length=200)


# --- the answers' schema ----------------------------------------------------------------------------
class ReportCellSerializer(serializers.Serializer):
    keys = serializers.ListField(
        child=serializers.JSONField(), help_text="The group values: ids, choice keys, first days of periods, null."
    )
    labels = serializers.ListField(child=serializers.CharField())
    value = serializers.CharField(allow_null=True, help_text="The figure as a decimal string (a count as digits).")
    count = serializers.IntegerField(help_text="Records behind the figure.")
    url = serializers.CharField(allow_null=True, help_text="The records list behind the figure (drill-down).")


class ReportResultSerializer(serializers.Serializer):
    config = ReportConfigSerializer()
    group_labels = serializers.ListField(child=serializers.CharField())
    measure_label = serializers.CharField()
    value_kind = serializers.ChoiceField(choices=["count", "number", "percent", "money"])
    currency = serializers.CharField(allow_null=True, help_text="The base currency of money figures.")
    rows = ReportCellSerializer(many=True)
    total = ReportCellSerializer()
    others = serializers.BooleanField(
        help_text="Groups beyond the bound were added up into “Others” (of a date: the earliest, into “Earlier”)."
    )
    unconverted = serializers.IntegerField(help_text="Records left out: no exchange rate on their day.")
    unconverted_currencies = serializers.ListField(child=serializers.CharField())


class OwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SavedReportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    type = serializers.CharField()
    sharing = serializers.ChoiceField(choices=[k for k, _ in SHARING])
    owner = OwnerSerializer(allow_null=True, help_text="null for the installation's own reports")
    config = ReportConfigSerializer()
    can_change = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    url = serializers.CharField()


class WidgetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    report = serializers.IntegerField(allow_null=True, help_text="The saved report shown (null for a standard report).")
    standard = serializers.CharField(allow_null=True, help_text="The standard report shown (its key), else null.")
    report_name = serializers.CharField()
    position = serializers.IntegerField()
    size = serializers.ChoiceField(choices=[k for k, _ in SIZES])
    target = serializers.CharField(allow_null=True)


class DashboardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    sharing = serializers.ChoiceField(choices=[k for k, _ in SHARING])
    owner = OwnerSerializer(allow_null=True)
    filters = DashboardFiltersSerializer()
    schedule = serializers.CharField()
    recipients = serializers.ListField(child=serializers.IntegerField())
    widgets = WidgetSerializer(many=True)
    can_change = serializers.BooleanField()
    url = serializers.CharField()


class StandardRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # the row's label, not the field's
    values = serializers.DictField(
        child=serializers.JSONField(), help_text="By column key: counts as integers, other figures as decimal strings."
    )
    links = serializers.DictField(child=serializers.CharField(), help_text="The records list behind a value.")


class StandardResultSerializer(serializers.Serializer):
    """A standard report's answer, as GET /api/v1/reports/<key>/ gives it (typed per report there)."""

    report = serializers.CharField()
    filters = serializers.DictField(child=serializers.JSONField())
    base_currency = serializers.CharField(allow_blank=True)
    unconverted = serializers.IntegerField()
    summary = serializers.DictField(child=serializers.JSONField())
    summary_links = serializers.DictField(child=serializers.CharField())
    rows = StandardRowSerializer(many=True)


class PanelSerializer(serializers.Serializer):
    widget = serializers.IntegerField()
    report = serializers.IntegerField(allow_null=True)
    standard = serializers.CharField(allow_null=True)
    name = serializers.CharField()
    size = serializers.CharField()
    error = serializers.CharField(allow_null=True)
    result = ReportResultSerializer(allow_null=True, help_text="A saved report's figures.")
    standard_result = StandardResultSerializer(allow_null=True, help_text="A standard report's figures.")
    previous = serializers.CharField(allow_null=True, help_text="The figure of the period before (number widgets).")
    target = serializers.CharField(allow_null=True)


class DashboardRunSerializer(serializers.Serializer):
    dashboard = serializers.IntegerField()
    filters = DashboardFiltersSerializer()
    panels = PanelSerializer(many=True)
