"""Pipelines, stages, lost reasons, deals (with their people and stage changes). The tables keep
their ``sales_*`` names from before the split."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from rapport.core.models import Record, to_json_value
from rapport.core.visibility import record_link, search_label
from rapport.forecasting.money import money
from rapport.quotes.models import LineItem, line_snapshot, price_all

LIVE = Q(deleted_at__isnull=True)

STAGE_KINDS = [("open", "Open"), ("won", "Won"), ("lost", "Lost")]
DEAL_STATUSES = STAGE_KINDS
FORECAST_CATEGORIES = [
    ("pipeline", "Pipeline"),
    ("best_case", "Best case"),
    ("commit", "Commit"),
    ("closed", "Closed"),
    ("omitted", "Omitted"),
]
CONTACT_ROLES = [
    ("decision_maker", "Decision maker"),
    ("champion", "Champion"),
    ("influencer", "Influencer"),
    ("user", "User"),
    ("other", "Other"),
]


class Pipeline(models.Model):
    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveIntegerField(default=0)
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "sales_pipeline"  # kept from before the split (see migrations)
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def first_stage(self, kind: str = "open") -> Stage | None:
        return self.stages.filter(kind=kind, archived=False).order_by("position", "id").first()


class Stage(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    probability = models.PositiveSmallIntegerField(default=0)  # default win probability, percent
    rotting_days = models.PositiveIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=10, choices=STAGE_KINDS, default="open")
    archived = models.BooleanField(default=False)

    class Meta:
        db_table = "sales_stage"  # kept from before the split (see migrations)
        ordering = ["pipeline", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(probability__lte=100), name="stage_probability_max_100"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def form_label(self) -> str:
        return f"{self.pipeline.name} · {self.name}"


class LostReason(models.Model):
    name = models.CharField(max_length=150, unique=True)
    active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "sales_lostreason"  # kept from before the split (see migrations)
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Deal(Record):
    title = models.CharField(max_length=200)
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="deals")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals")
    status = models.CharField(max_length=10, choices=DEAL_STATUSES, default="open")
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    expected_close_date = models.DateField(null=True, blank=True)
    probability = models.PositiveSmallIntegerField(default=0)  # effective, percent
    probability_overridden = models.BooleanField(default=False)
    forecast_category = models.CharField(max_length=12, choices=FORECAST_CATEGORIES, default="pipeline")
    company = models.ForeignKey(
        "contacts.Company", null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    source = models.CharField(max_length=100, blank=True, default="")
    lost_reason = models.ForeignKey(LostReason, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    closed_on = models.DateField(null=True, blank=True)  # won or lost date
    stage_entered_at = models.DateTimeField(default=timezone.now)

    related_write_keys = frozenset({"contacts", "line_items"})
    bookkeeping = Record.bookkeeping | {"stage_entered_at"}

    class Meta:
        db_table = "sales_deal"  # kept from before the split (see migrations)
        indexes = [
            models.Index(fields=["created_at", "id"], name="deal_created_idx", condition=LIVE),
            models.Index(fields=["updated_at", "id"], name="deal_updated_idx", condition=LIVE),
            models.Index(fields=["title", "id"], name="deal_title_idx", condition=LIVE),
            models.Index(fields=["team", "created_at", "id"], name="deal_team_idx", condition=LIVE),
            models.Index(fields=["owner", "status", "created_at", "id"], name="deal_owner_idx", condition=LIVE),
            models.Index(fields=["pipeline", "status", "stage"], name="deal_board_idx", condition=LIVE),
            models.Index(fields=["stage", "stage_entered_at", "id"], name="deal_stage_idx", condition=LIVE),
            # the board's open columns: by expected close date, then the undated ones by id
            models.Index(fields=["stage", "expected_close_date", "id"], name="deal_stage_close_idx", condition=LIVE),
            models.Index(fields=["expected_close_date", "id"], name="deal_close_idx", condition=LIVE),
            models.Index(fields=["closed_on", "id"], name="deal_closed_on_idx", condition=LIVE),
            models.Index(fields=["amount", "id"], name="deal_amount_idx", condition=LIVE),
            # board won/lost columns (recent closes) and the forecast's period ranges; covering the won and lost
            # columns' figures of the last 30 days (SQLite read ~1,400 deals' rows for them: 5.6 -> 1 ms)
            models.Index(
                fields=[
                    "stage",
                    "closed_on",
                    "status",
                    "pipeline",
                    "team",
                    "owner",
                    "currency",
                    "amount",
                    "probability",
                    "deleted_at",
                ],
                name="deal_stage_closed_idx",
                condition=LIVE,
            ),
            # an open column's cards for a member who sees their team's deals (the stage's index read every
            # other team's deals to find 25 of theirs)
            models.Index(
                fields=["team", "stage", "expected_close_date", "id"], name="deal_team_stage_close_idx", condition=LIVE
            ),
            # covers the board's per-column totals (an index-only scan: 16 -> 5 ms for two columns at 10k open deals)
            models.Index(
                fields=[
                    "stage",
                    "status",
                    "pipeline",
                    "team",
                    "owner",
                    "currency",
                    "expected_close_date",
                    "amount",
                    "probability",
                    "deleted_at",  # always NULL here, but SQLite reads the table for it otherwise
                ],
                name="deal_totals_idx",
                condition=LIVE,
            ),
            # The forecast's two aggregates read these alone (covering: SQLite needs deleted_at in the index to
            # skip the table; 15,000 open deals in a quarter: 42 -> 12 ms of SQLite CPU).
            models.Index(
                fields=[
                    "status",
                    "expected_close_date",
                    "owner",
                    "team",
                    "currency",
                    "forecast_category",
                    "amount",
                    "probability",
                    "deleted_at",
                ],
                name="deal_forecast_open_idx",
                condition=LIVE,
            ),
            models.Index(
                fields=["status", "closed_on", "owner", "team", "currency", "amount", "deleted_at"],
                name="deal_forecast_won_idx",
                condition=LIVE,
            ),
        ]

    def __str__(self) -> str:
        return self.title

    # --- rules kept on every write ----------------------------------------------------------
    def prepare_write(self, before: dict[str, Any] | None, pending: dict[str, Any]) -> None:
        stage = self.stage
        if stage.pipeline_id != self.pipeline_id:
            raise ValidationError({"stage": f"{stage.name} is not a stage of the pipeline {self.pipeline.name}."})
        self.status = stage.kind
        if not self.probability_overridden:
            self.probability = {"won": 100, "lost": 0}.get(stage.kind, stage.probability)
        if self.status == "lost" and self.lost_reason_id is None:
            raise ValidationError({"lost_reason": "Give a reason when a deal is lost."})
        if self.status != "lost":
            self.lost_reason = None
        was_status = before["status"] if before else None
        if self.status in ("won", "lost"):
            newly_closed = was_status != self.status
            date_untouched = before is None or before.get("closed_on") == to_json_value(self.closed_on)
            if self.closed_on is None or (newly_closed and date_untouched and before is not None):
                self.closed_on = timezone.localdate()  # closed today unless the write gave a date
            self.forecast_category = "closed"
        else:
            self.closed_on = None
            if self.forecast_category == "closed":
                self.forecast_category = "pipeline"
        if before is None or before["stage"] != self.stage_id:
            self._left_stage_entered_at = None if before is None else self.stage_entered_at
            self.stage_entered_at = timezone.now()
        if "line_items" in pending and pending["line_items"]:
            self.amount = price_all(pending["line_items"], self.currency).net
        # The write service gives the deal its owner's team after this: keep the one it leaves.
        if before is not None:
            self._team_before = self.team_id

    def after_write(self, changes: dict[str, Any], *, actor: Any, source: str, created: bool) -> None:
        from . import totals  # the board's column figures, in this write's transaction

        if created:
            totals.apply(None, totals.state_of(self))
        else:
            team_before = self.__dict__.pop("_team_before", totals.KEEP)
            totals.apply(totals.state_before(self, changes, team_before), totals.state_of(self))
        if created or "stage" in changes:
            previous = None if created else changes["stage"][0]
            entered = getattr(self, "_left_stage_entered_at", None)  # when the deal entered the stage it left
            StageChange.objects.create(
                deal=self,
                from_stage_id=previous,
                to_stage_id=self.stage_id,
                changed_at=self.stage_entered_at,
                actor=actor if getattr(actor, "pk", None) else None,
                seconds_in_previous=(
                    int((self.stage_entered_at - entered).total_seconds()) if entered is not None else None
                ),
            )

    def on_soft_delete(self) -> None:
        from . import totals

        totals.apply(totals.state_of(self, live=True), None)

    def on_restore(self) -> None:
        from . import totals

        totals.apply(None, totals.state_of(self))

    # --- children -----------------------------------------------------------------------------
    def related_snapshot(self) -> dict[str, Any]:
        if self.pk is None:
            return {"contacts": [], "line_items": []}
        return {
            "contacts": [[c.person_id, c.role] for c in self.deal_contacts.all()],
            "line_items": [line_snapshot(i) for i in self.line_items.all()],
        }

    def pending_snapshot(self, pending: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "contacts" in pending:
            out["contacts"] = [[c["person"].pk, c.get("role") or "other"] for c in pending["contacts"]]
        if "line_items" in pending:
            out["line_items"] = [line_snapshot(i) for i in pending["line_items"]]
        return out

    def write_related(self, data: dict[str, Any], *, created: bool = False) -> None:
        if "contacts" in data:
            if not created:
                self.deal_contacts.all().delete()
            contacts = [
                DealContact(deal=self, person=c["person"], role=c.get("role") or "other") for c in data["contacts"]
            ]
            self.cache_related("deal_contacts", DealContact.objects.bulk_create(contacts) if contacts else [])
        if "line_items" in data:
            if not created:
                self.line_items.all().delete()
            items = [
                LineItem(
                    deal=self,
                    position=n,
                    product=i.get("product"),
                    name=i["name"],
                    quantity=i["quantity"],
                    unit_price=i["unit_price"],
                    discount_percent=i.get("discount_percent") or Decimal("0"),
                    tax_percent=i.get("tax_percent") or Decimal("0"),
                )
                for n, i in enumerate(data["line_items"])
            ]
            self.cache_related("line_items", LineItem.objects.bulk_create(items) if items else [])

    def api_extra(self, viewer: Any) -> dict[str, Any]:
        return {
            "contacts": [{"person": record_link(viewer, c.person), "role": c.role} for c in self.deal_contacts.all()],
            "line_items": [
                {
                    "product": record_link(viewer, i.product) if i.product_id else None,
                    "name": i.name,
                    "quantity": str(i.quantity),
                    "unit_price": str(i.unit_price),
                    "discount_percent": str(i.discount_percent),
                    "tax_percent": str(i.tax_percent),
                    "net": str(i.net),
                    "tax": str(i.tax),
                }
                for i in self.line_items.all()
            ],
            "weighted_amount": to_json_value(self.weighted_amount),
        }

    def related_items(self, name: str) -> Any:
        return self.deal_contacts.select_related("person") if name == "contacts" else super().related_items(name)

    @property
    def weighted_amount(self) -> Decimal | None:
        if self.amount is None:
            return None
        return money(self.amount * self.probability / Decimal(100))

    @property
    def rotting(self) -> bool:
        days = self.stage.rotting_days
        if self.status != "open" or not days:
            return False
        return (timezone.now() - self.stage_entered_at).days >= days

    def search_document(self) -> tuple[str, str, str]:
        company = search_label(self, self.company) if self.company_id else ""
        return (self.title, " ".join(x for x in (company, self.source) if x), "")


class StageTotal(models.Model):
    """The board's column figures kept current by every deal write (deals/totals.py): open deals per
    stage, team, owner, currency and exchange-rate period, so the board reads a few rows per stage
    however many open deals there are. Amounts in cents (exact on SQLite too); ``weighted`` is the sum
    of cents × probability percent. ``period`` is the first day of the stretch without a rate change
    holding the expected close date (``totals.NO_DAY`` for deals without one: converted at today's rate).
    Team and owner 0 stand for none (so the unique key holds)."""

    stage = models.ForeignKey(Stage, on_delete=models.CASCADE, related_name="+")
    team_id = models.BigIntegerField()
    owner_id = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    period = models.DateField()
    n = models.BigIntegerField()
    priced = models.BigIntegerField()
    total = models.BigIntegerField()
    weighted = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stage", "team_id", "owner_id", "currency", "period"], name="stage_total_key"
            )
        ]


class ForecastTotal(models.Model):
    """The forecast's figures kept current by every deal write (deals/totals.py), as the board's are: won
    deals per month of their close, open deals per month of their expected close and forecast category, each
    per team, owner, currency and exchange-rate period, so a forecast reads a few rows per owner and month
    however many deals there are. Deals without an amount, open deals without an expected close date or
    omitted from the forecast, and lost deals add nothing. Amounts in cents; ``weighted`` is the sum of
    cents × probability percent. ``figure`` is "won" or the open deal's forecast category; ``month`` the
    first day of the month; ``period`` as in :class:`StageTotal`. Team and owner 0 stand for none."""

    month = models.DateField()
    team_id = models.BigIntegerField()
    owner_id = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    figure = models.CharField(max_length=12)
    period = models.DateField()
    n = models.BigIntegerField()
    total = models.BigIntegerField()
    weighted = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "team_id", "owner_id", "currency", "figure", "period"], name="forecast_total_key"
            )
        ]


class DealContact(models.Model):
    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="deal_contacts")
    person = models.ForeignKey("contacts.Person", on_delete=models.CASCADE, related_name="deal_roles")
    role = models.CharField(max_length=20, choices=CONTACT_ROLES, default="other")

    class Meta:
        db_table = "sales_dealcontact"  # kept from before the split (see migrations)
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["deal", "person"], name="deal_contact_unique")]

    def __str__(self) -> str:
        return f"{self.person} ({self.get_role_display()})"


class StageChange(models.Model):
    """Every move of a deal between stages, with its time: how long each stage took."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # SET_NULL: deleting a stage must not erase the history of the deals that passed through it.
    to_stage = models.ForeignKey(Stage, null=True, on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    seconds_in_previous = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "sales_stagechange"  # kept from before the split (see migrations)
        ordering = ["id"]
        indexes = [models.Index(fields=["deal", "id"], name="stage_change_deal_idx")]
