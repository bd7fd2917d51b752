"""Invoices and payments: registered types whose visibility follows the company, payments keeping the amount
paid and the status current through the write path, the daily overdue marking with the shipped rule's task for
the account owner, the sections on company and deal pages and the timelines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from rapport.activities.models import Activity, ActivityLink
from rapport.automation import engine
from rapport.automation import services as automation_services
from rapport.automation.models import Rule, RuleRun
from rapport.automation.tasks import start_runs
from rapport.core import services as core_services
from rapport.core.models import Event
from rapport.invoices import services
from rapport.invoices.models import Invoice, status_for
from rapport.jobs.events import dispatch_pending

from .conftest import write


def write_as(type_key, data, *, actor, instance=None):
    """Like the API: the serializer validates for the writer (whose links and owners it may give)."""
    from rapport.core import registry

    rtype = registry.get(type_key)
    serializer = rtype.get_serializer_class()(
        instance, data=data, partial=instance is not None, context={"actor": actor}
    )
    assert serializer.is_valid(), serializer.errors
    if instance is None:
        return core_services.create_record(rtype.model, serializer.validated_data, actor=actor, source="ui")
    return core_services.update_record(instance, serializer.validated_data, actor=actor, source="ui")


def _invoice(company, actor, **extra):
    data = {
        "number": "INV-1",
        "company": company.pk,
        "issue_date": "2026-10-01",
        "due_date": "2026-10-31",
        "currency": "EUR",
        "amount": "1000.00",
        "status": "sent",
    }
    data.update(extra)
    return write_as("invoices", data, actor=actor)


def _pay(invoice, amount, actor, **extra):
    return write_as(
        "payments", {"invoice": invoice.pk, "amount": amount, "paid_on": "2026-10-20", **extra}, actor=actor
    )


@pytest.mark.parametrize(
    ("status", "amount", "paid", "due", "expected"),
    [
        ("draft", "100", "100", None, "draft"),  # draft and void are set by hand
        ("void", "100", "0", None, "void"),
        ("sent", "100", "0", None, "sent"),
        ("sent", "100", "40", None, "partly_paid"),
        ("sent", "100", "100", None, "paid"),
        ("partly_paid", "100", "120", None, "paid"),  # overpaid is paid
        ("overdue", "100", "40", dt.date(2026, 11, 1), "overdue"),  # still past due
        ("overdue", "100", "100", dt.date(2026, 11, 1), "paid"),
        ("overdue", "100", "0", dt.date(2026, 12, 31), "sent"),  # due date moved out
        ("paid", "100", "50", None, "partly_paid"),  # a payment taken back
        ("sent", "0", "0", None, "sent"),  # nothing to pay is not "paid"
    ],
)
def test_status_follows_the_money(status, amount, paid, due, expected):
    assert status_for(status, Decimal(amount), Decimal(paid), due, dt.date(2026, 11, 30)) == expected


def test_owner_and_team_follow_the_company(users, company):
    # The company is the member's (team East); the admin writes the invoice without naming an owner.
    invoice = _invoice(company, users["admin"])
    assert (invoice.owner_id, invoice.team_id) == (users["member"].pk, users["member"].team_id)
    assert Invoice.objects.visible_to(users["peer"]).filter(pk=invoice.pk).exists()
    assert not Invoice.objects.visible_to(users["outsider"]).filter(pk=invoice.pk).exists()
    payment = _pay(invoice, "100.00", users["admin"])
    assert (payment.owner_id, payment.team_id, payment.currency) == (users["member"].pk, users["member"].team_id, "EUR")
    # One given to someone else on purpose keeps its owner.
    kept = _invoice(company, users["admin"], number="INV-2", owner=users["manager"].pk)
    assert kept.owner_id == users["manager"].pk

    # The company goes to the outsider (team West): the invoices and payments that were the member's follow,
    # each with an event; the manager's stays.
    write("companies", {"owner": users["outsider"].pk}, actor=users["admin"], instance=company)
    dispatch_pending()
    for row in (invoice, payment, kept):
        row.refresh_from_db()
    assert (invoice.owner_id, invoice.team_id) == (users["outsider"].pk, users["outsider"].team_id)
    assert (payment.owner_id, payment.team_id) == (users["outsider"].pk, users["outsider"].team_id)
    assert kept.owner_id == users["manager"].pk
    moved = Event.objects.get(type_key="invoices", record_id=invoice.pk, kind="updated", changes__has_key="owner")
    assert moved.changes["owner"] == [users["member"].pk, users["outsider"].pk]
    assert not Invoice.objects.visible_to(users["peer"]).filter(pk=invoice.pk).exists()


def test_payments_update_amount_paid_and_status(users, company):
    invoice = _invoice(company, users["admin"])
    first = _pay(invoice, "400.00", users["member"])
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.status, invoice.version) == (Decimal("400.00"), "partly_paid", 2)
    _pay(invoice, "600.00", users["member"])
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.status, invoice.outstanding) == (Decimal("1000.00"), "paid", Decimal("0"))
    # The history says who and how: the payment's writer, a diff of amount paid and status.
    last = Event.objects.filter(type_key="invoices", record_id=invoice.pk).order_by("-id").first()
    assert last.changes == {"amount_paid": ["400.00", "1000.00"], "status": ["partly_paid", "paid"]}
    assert last.actor_id == users["member"].pk

    # A payment binned: the amount paid goes down, the invoice is partly paid again.
    core_services.delete_record(first, actor=users["admin"], source="ui")
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.status) == (Decimal("600.00"), "partly_paid")
    core_services.restore_record(first, actor=users["admin"], source="ui")
    invoice.refresh_from_db()
    assert (invoice.amount_paid, invoice.status) == (Decimal("1000.00"), "paid")


def test_write_rules_name_the_field(users, company, api_client_for):
    client = api_client_for(users["admin"])
    base = {"number": "INV-9", "company": company.pk, "currency": "JPY", "amount": "10.50"}
    answer = client.post("/api/v1/invoices/", base, content_type="application/json")
    assert answer.status_code == 400 and "amount" in answer.json()["fields"]
    answer = client.post(
        "/api/v1/invoices/",
        {**base, "currency": "EUR", "issue_date": "2026-10-10", "due_date": "2026-10-01"},
        content_type="application/json",
    )
    assert answer.status_code == 400 and list(answer.json()["fields"]) == ["due_date"]
    answer = client.post(
        "/api/v1/invoices/", {**base, "currency": "EUR", "status": "paid"}, content_type="application/json"
    )
    # paid follows the payments: given on a new invoice it is sent (so an export loads back, and a
    # representation read back and written again changes nothing)
    assert answer.status_code == 201 and answer.json()["status"] == "sent"
    created = client.post("/api/v1/invoices/", {**base, "currency": "EUR"}, content_type="application/json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["status"], body["amount_paid"], body["owner"]["id"]) == ("draft", "0.00", users["member"].pk)
    # A company the writer may not see is answered like one that does not exist.
    other = write("companies", {"name": "Westco"}, actor=users["outsider"])
    answer = api_client_for(users["member"]).post(
        "/api/v1/invoices/", {"number": "INV-10", "company": other.pk}, content_type="application/json"
    )
    assert answer.status_code == 400 and answer.json()["fields"] == {"company": [f"There is no company #{other.pk}."]}


def settle() -> None:
    """What the worker does: dispatch events to the consumers (the rules among them), run the rule runs."""
    for _ in range(10):
        if not dispatch_pending() and not engine.run_due():
            return
    raise AssertionError("events kept coming")


def overdue_rule() -> Rule:
    return Rule.objects.get(shipped="invoice_overdue")


def test_overdue_marking_makes_one_task_for_the_account_owner(users, company):
    engine.forget_rules()
    late = _invoice(company, users["admin"], number="INV-LATE", due_date="2026-11-01")
    _pay(late, "250.00", users["admin"])
    on_time = _invoice(company, users["admin"], number="INV-OK", due_date="2026-12-15")
    paid = _invoice(company, users["admin"], number="INV-PAID", due_date="2026-11-01")
    _pay(paid, "1000.00", users["admin"])
    draft = _invoice(company, users["admin"], number="INV-DRAFT", due_date="2026-11-01", status="draft")
    # The account owner is the company's: an invoice given to someone else still makes the task theirs.
    late = write_as("invoices", {"owner": users["peer"].pk}, actor=users["admin"], instance=late)
    settle()
    assert not Activity.objects.exists()

    marked = services.mark_overdue(on=dt.date(2026, 11, 30))
    assert [i.number for i in marked] == ["INV-LATE"]
    settle()
    start_runs(list(Event.objects.filter(type_key="invoices")))  # at least once: the same events again, no new task
    settle()
    for invoice in (on_time, paid, draft):
        invoice.refresh_from_db()
    assert (on_time.status, paid.status, draft.status) == ("sent", "paid", "draft")
    tasks = list(Activity.objects.filter(kind="task"))
    assert len(tasks) == 1
    task = tasks[0]
    assert (task.assignee_id, task.owner_id, task.priority, task.done) == (
        users["member"].pk,
        users["member"].pk,
        "high",
        False,
    )
    assert task.subject == "Chase overdue invoice INV-LATE"
    # 1000.00 invoiced, one payment of 250.00.
    assert task.body == "Invoice INV-LATE for Acme was due on 2026-11-01: 1000.00 EUR, 250.00 paid."
    links = set(ActivityLink.objects.filter(activity=task).values_list("type_key", "record_id"))
    assert links == {("invoices", late.pk), ("companies", company.pk)}
    event = Event.objects.filter(type_key="invoices", record_id=late.pk).order_by("-id").first()
    assert (event.changes, event.source) == ({"status": ["partly_paid", "overdue"]}, "system")
    # The task was written by the rule: source automation, the rule's run in its request id (history names it).
    rule = overdue_rule()
    (run,) = RuleRun.objects.filter(rule=rule)
    made = Event.objects.get(type_key="activities", record_id=task.pk, kind="created")
    assert (made.source, made.actor_id, made.request_id) == ("automation", None, f"rule-{rule.pk}-run-{run.pk}")
    assert (run.status, run.record_id, run.outcomes[0]["status"]) == ("succeeded", late.pk, "done")
    # The next day's run marks nothing more and makes no more tasks.
    assert services.mark_overdue(on=dt.date(2026, 12, 1)) == []
    settle()
    assert Activity.objects.filter(kind="task").count() == 1


def test_the_overdue_rule_is_shipped_shown_and_not_deleted(users, api_client_for):
    from rapport.automation.shipped import ensure_shipped_rules

    rule = overdue_rule()  # made by the migrations
    assert (rule.active, rule.type_key, rule.trigger, rule.trigger_config) == (
        True,
        "invoices",
        "updated",
        {"fields": ["status"], "value": "overdue", "or_created": True},
    )
    ensure_shipped_rules()
    ensure_shipped_rules()
    assert Rule.objects.filter(shipped__isnull=False).count() == 1
    client = Client()
    client.force_login(users["admin"])
    assert "Overdue invoice: a task for the account owner" in client.get("/settings/automation/").content.decode()
    page = client.get(f"/settings/automation/{rule.pk}/").content.decode()
    assert "it cannot be deleted" in page and "Delete rule" not in page
    assert client.post(f"/settings/automation/{rule.pk}/delete/").status_code == 302
    answer = api_client_for(users["admin"]).delete(f"/api/v1/automation/rules/{rule.pk}/")
    assert answer.status_code == 409 and answer.json()["error"] == "shipped"
    assert Rule.objects.filter(pk=rule.pk).exists()
    # Switched off, it is not made again (a migrate keeps an administrator's choice).
    automation_services.set_active(rule, False, actor=users["admin"])
    ensure_shipped_rules()
    assert Rule.objects.get(pk=rule.pk).active is False


def test_an_invoice_that_arrives_overdue_makes_the_task_too(users, company):
    """The invoicing tool may send an invoice already overdue: created so, it triggers the rule once."""
    engine.forget_rules()
    invoice = _invoice(company, users["admin"], number="INV-OLD", due_date="2026-10-01", status="overdue")
    assert invoice.status == "overdue"
    settle()
    (task,) = Activity.objects.all()
    assert (task.subject, task.assignee_id) == ("Chase overdue invoice INV-OLD", users["member"].pk)
    # A change that leaves the status alone makes no second task.
    write_as("invoices", {"issue_date": "2026-09-01"}, actor=users["admin"], instance=invoice)
    settle()
    assert Activity.objects.count() == 1


def test_the_overdue_rule_switched_off_makes_no_task(users, company):
    engine.forget_rules()
    automation_services.set_active(overdue_rule(), False, actor=users["admin"])
    _invoice(company, users["admin"], number="INV-LATE", due_date="2026-11-01")
    assert [i.number for i in services.mark_overdue(on=dt.date(2026, 11, 30))] == ["INV-LATE"]
    settle()
    assert not Activity.objects.exists() and not RuleRun.objects.exists()


def test_the_overdue_rule_edited_makes_the_task_it_says(users, company, api_client_for):
    engine.forget_rules()
    rule = overdue_rule()
    actions = [{**rule.actions[0], "params": {**rule.actions[0]["params"], "subject": "Call {company} about {number}"}}]
    answer = api_client_for(users["admin"]).patch(
        f"/api/v1/automation/rules/{rule.pk}/", {"actions": actions}, content_type="application/json"
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["shipped"] == "invoice_overdue"
    _invoice(company, users["admin"], number="INV-7", due_date="2026-11-01")
    services.mark_overdue(on=dt.date(2026, 11, 30))
    settle()
    (task,) = Activity.objects.all()
    assert (task.subject, task.assignee_id) == ("Call Acme about INV-7", users["member"].pk)


def test_sections_and_timelines(users, company, person):
    deal = write(
        "deals",
        {"title": "Acme 10 seats", "company": company.pk, "amount": "1000", "currency": "EUR"},
        actor=users["member"],
    )
    invoice = _invoice(company, users["admin"], deal=deal.pk)
    _pay(invoice, "100.00", users["admin"])
    client = Client()
    client.force_login(users["peer"])
    page = client.get(f"/companies/{company.pk}/").content.decode()
    assert "/invoices/section/?company=" in page
    section = client.get(f"/invoices/section/?company={company.pk}").content.decode()
    assert "INV-1" in section and "Partly paid" in section and "Outstanding" in section and "€900.00" in section
    deal_page = client.get(f"/deals/{deal.pk}/").content.decode()
    assert f"/invoices/section/?deal={deal.pk}" in deal_page
    assert "INV-1" in client.get(f"/invoices/section/?deal={deal.pk}").content.decode()
    assert client.get("/invoices/section/?company=x").status_code == 400
    # The company's and the deal's timelines show the invoice made and its status change (the payment).
    for address in (f"/companies/{company.pk}/timeline/", f"/deals/{deal.pk}/timeline/"):
        timeline = client.get(address).content.decode()
        assert timeline.count(f'href="/invoices/{invoice.pk}/"') == 2, address
    events = client.get(f"/api/v1/companies/{company.pk}/timeline/?kind=changes").json()["results"]
    assert [e["event"]["changes"].get("status") for e in events][:1] == [["sent", "partly_paid"]]
    # Someone who may not see the company sees no section and no invoice.
    outsider = Client()
    outsider.force_login(users["outsider"])
    assert outsider.get(f"/invoices/section/?company={company.pk}").status_code == 404
    assert outsider.get(f"/invoices/{invoice.pk}/").status_code == 404


def test_the_navigation_has_invoices_and_reaches_payments_through_them(users):
    from django.test import Client

    client = Client()
    client.force_login(users["member"])
    page = client.get("/invoices/").content.decode()
    nav = page[page.index('<nav class="nav"') : page.index("</nav>")]
    assert 'href="/invoices/"' in nav and 'href="/payments/"' not in nav
    assert client.get("/payments/").status_code == 200  # still a page, linked from each invoice's Payments card
