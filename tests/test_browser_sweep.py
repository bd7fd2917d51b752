"""The page sweep: every page of the app, as every demo role, at 1280 and 390 px, on the demo data.

Each page must answer with the status its role is meant to get (200, or the 403/404 declared in
``intended_status``), log no console error, break no Content Security Policy rule, and be no wider than
the window (wide parts such as the board or a long table scroll inside their own box, never the page).

The pages come from the URLconf: an address without parameters is a page unless ``NOT_PAGES`` says why
not (an action, a fragment, a file); an address with parameters is swept through ``ADDRESSES``, which
fills its parameters from the demo data per role. A new address that is in neither fails
``test_every_address_is_swept_or_excluded`` (not a browser test, so every suite run checks it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from rapport.accounts.models import Role, Team, User
from rapport.core import bulkedit, registry
from rapport.core.models import CustomField
from rapport.deals.models import Pipeline
from rapport.quotes.models import Quote
from rapport.reports.models import Dashboard, SavedReport

from .browser import CHROMIUM

WIDTHS = {1280: 800, 390: 844}
DEMO_USERS = {"admin": "admin", "manager": "maria", "member": "james", "read-only": "viewer"}

# Addresses that are not pages, by URL name, and why. Everything else in the URLconf is swept.
NOT_PAGES = {
    "logout": "POST: signs out",
    "settings-user-deactivate": "POST action",
    "settings-user-reactivate": "POST action",
    "settings-team-delete": "POST action",
    "settings-field-delete": "POST action",
    "settings-token-revoke": "POST action",
    "settings-rate-delete": "POST action",
    "settings-quota-delete": "POST action",
    "settings-stage-action": "POST action",
    "settings-stage-delete": "POST action",
    "settings-lost-reason-add": "POST action",
    "settings-lost-reason": "POST action",
    "settings-job-retry": "POST action",
    "settings-outbox-retry": "POST action",
    "settings-webhook-test": "POST action",
    "settings-webhook-rotate": "POST action",
    "settings-webhook-delete": "POST action",
    "settings-webhook-redeliver": "POST action",
    "sequence-delete": "POST action",
    "sequence-enrolment-action": "POST action: pause, resume or stop an enrolment",
    "sequence-person": "htmx fragment: the Sequences card of a person's page",
    "mail-thread-private": "POST action",
    "mail-thread-deal": "POST action",
    "mail-create-person": "POST action",
    "mail-mailbox-resync": "POST action",
    "mail-mailbox-delete": "POST action",
    "settings-mail-privacy-remove": "POST action",
    "settings-email-suppression-remove": "POST action",
    "mail-attachment": "a file download (attachment or inline image)",
    "settings-automation-switch": "POST action",
    "settings-automation-dry-run": "POST action (answers the rule's page with the dry run)",
    "settings-automation-delete": "POST action",
    "deal-board-column": "htmx fragment: one board column",
    "deal-card": "htmx fragment: one board card, refreshed in place",
    "deal-stage": "POST action",
    "deal-won": "POST action",
    "deal-lost": "POST action",
    "deal-reopen": "POST action",
    "deal-next-activity": "htmx fragment: the deal page's next activity",
    "deal-move": "POST action",
    "deal-related": "htmx fragment: the deals section of a person or company page",
    "deal-convert-lead": "POST action",
    "deal-quote-new": "POST action",
    "quote-lines": "htmx fragment and its POST",
    "quote-details": "htmx fragment and its POST",
    "quote-pdf": "a PDF file",
    "quote-action": "POST actions (send, accept…)",
    "record-timeline": "htmx fragment: the timeline of a record page",
    "timeline-complete": "POST action",
    "calendar-feed-settings": "POST action",
    "calendar-feed": "an iCalendar file",
    "activity-invite": "an iCalendar file",
    "my-day-nav": "htmx fragment: the counts in the navigation",
    "my-day-complete": "POST action",
    "my-day-reschedule": "POST action",
    "my-day-reminder": "POST action",
    "notifications-read": "POST action",
    "notifications-settings": "POST action",
    "restore": "POST action",
    "record-export": "a CSV or XLSX file",
    "record-bulk": "POST action",
    "record-save-view": "POST action",
    "record-delete-view": "POST action",
    "autocomplete": "JSON: the link picker's matches",
    "duplicates-merge-undo": "POST action",
    "reports-preview": "htmx fragment: the report builder's preview",
    "reports-export": "a CSV or XLSX file",
    "reports-saved-export": "a CSV or XLSX file",
    "reports-save": "POST action",
    "reports-saved-delete": "POST action",
    "reports-add-widget": "POST action",
    "reports-dashboard-create": "POST action",
    "reports-dashboard-edit": "POST action",
    "reports-dashboard-delete": "POST action",
    "reports-dashboard-arrange": "POST action",
    "reports-widget-size": "POST action",
    "reports-widget-remove": "POST action",
    "import-mapping": "POST action",
    "import-run": "POST action",
    "import-cancel": "POST action",
    "import-undo": "POST action",
    "import-rejected-csv": "a CSV file",
    "healthz": "a probe for load balancers (text)",
    "duplicates-dismiss": "POST action",
    "duplicates-scan": "POST action",
    "duplicates-scan-progress": "htmx fragment: the duplicate scan's progress on the queue page",
    "readyz": "a probe for load balancers (JSON)",
    "invoices-section": "htmx fragment: the invoices section of a company or deal page",
    "settings-integration-rotate": "POST action",
    "settings-integration-delete": "POST action",
    "email-open": "a 1x1 GIF: the open-tracking pixel",
    "email-click": "a redirect: click tracking",
    "email-sent-cancel": "POST action",
    "email-template-delete": "POST action",
}
# Prefixes that hold no pages: the REST API (its docs page is Swagger's, tested by the API suites).
NOT_PAGE_PREFIXES = ("api/",)


class Data:
    """What the addresses with parameters are filled from: the demo data, as one user sees it. A page
    that acts on a record (edit, delete) gets one the user may act on; when there is none, one they
    only see, whose refusal (403) is then the intended answer."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.refused: dict[str, int] = {}

    def records(self, type_key: str, suffix: str = "", action: str = "view") -> list[str]:
        visible = registry.get(type_key).model.objects.visible_to(self.user).order_by("pk")
        record = visible.filter(pk__in=registry.get(type_key).model.objects.visible_to(self.user, action)).first()
        if record is None and (record := visible.first()) is not None:
            self.refused[f"/{type_key}/{record.pk}/{suffix}"] = 403
        return [f"/{type_key}/{record.pk}/{suffix}"] if record else []


def _quote(data: Data) -> list[Quote]:
    deals = registry.get("deals").model.objects.visible_to(data.user)
    quote = Quote.objects.filter(deal__in=deals).order_by("pk").first()
    return [quote] if quote else []


def _bulk_change(data: Data) -> list[str]:
    """A finished "select all matching" change of the user's own (the progress page is the starter's)."""
    rtype = registry.get("people")
    try:
        action = bulkedit.check_action(rtype, "add_tag", {"tag": "swept"}, data.user)
    except bulkedit.BulkInputError:
        return []  # a role that may not change people starts none
    change = bulkedit.start(rtype, "tag=no-record-has-this-tag", action, actor=data.user)
    bulkedit.run_bulk_change(change.pk)
    return [f"/people/bulk/{change.pk}/"]


def _merge_compare(data: Data) -> list[str]:
    """Two people the user may both change and delete (the comparison refuses others)."""
    from rapport.core.visibility import can

    people = registry.get("people").model.objects.visible_to(data.user, "delete").order_by("pk")[:20]
    mine = [p.pk for p in people if can(data.user, p, "change")][:2]
    return [f"/duplicates/merge/people/?ids={mine[0]},{mine[1]}"] if len(mine) == 2 else []


def _merge(data: Data) -> list[str]:
    """A merge of two demo companies (made once, by the system), shown to whoever sees the survivor."""
    from rapport.duplicates.merge import merge_records
    from rapport.duplicates.models import Merge

    merge = Merge.objects.order_by("pk").first()
    if merge is None:
        companies = list(
            registry.get("companies").model.objects.live().order_by("-pk").values_list("pk", flat=True)[:2]
        )
        merge = merge_records(registry.get("companies"), companies[0], [companies[1]], actor=None, source="system")
    visible = registry.get(merge.type_key).model.objects.visible_to(data.user).filter(pk=merge.survivor_id)
    return [f"/duplicates/merges/{merge.pk}/"] if visible.exists() else []


def _standard_reports(data: Data) -> list[str]:
    """Every standard report; adoption and data quality refuse whoever leads no team (403)."""
    from rapport.reports import standard

    out = []
    for r in standard.load().values():
        path = f"/reports/{r.key}/"
        if r.team_leads and not standard.leads_team(data.user):
            data.refused[path] = 403
        out.append(path)
    return out


def _webhook() -> tuple[Any, Any]:
    """A webhook subscription (the demo has none) with one test delivery, made once by the administrator."""
    from rapport.webhooks import services as webhooks
    from rapport.webhooks.models import Subscription

    subscription = Subscription.objects.order_by("pk").first()
    if subscription is None:
        admin = User.objects.get(username=DEMO_USERS["admin"])
        subscription = webhooks.create_subscription(
            {"name": "Swept", "url": "https://hooks.example.com/rapport"}, actor=admin
        )
        webhooks.send_test(subscription, actor=admin)
    return subscription, subscription.deliveries.order_by("pk").first()


def _sequence() -> Any:
    """A shared sequence of the administrator's (the demo has none) with one demo person enrolled."""
    from rapport.contacts.models import Person
    from rapport.sequences import services as sequences
    from rapport.sequences.models import Sequence

    sequence = Sequence.objects.order_by("pk").first()
    if sequence is None:
        admin = User.objects.get(username=DEMO_USERS["admin"])
        sequence = sequences.create_sequence(
            actor=admin,
            name="Swept follow-up",
            shared=True,
            steps=[
                {"kind": "email", "subject": "Hello {{ person.first_name }}", "body": "Hi"},
                {"kind": "task", "delay_days": 2, "subject": "Call"},
            ],
        )
        sequences.enrol_people(sequence, Person.objects.exclude(primary_email="").order_by("pk")[:1], actor=admin)
    return sequence


def _sequence_edit(data: Data) -> list[str]:
    path = f"/sequences/{_sequence().pk}/edit/"
    if data.user.username != DEMO_USERS["admin"]:
        data.refused[path] = 403  # only the owner (or an administrator) edits a sequence
    return [path]


def _mail(data: Data) -> tuple[Any, Any]:
    """A personal mailbox of the user with one stored message (the demo has no mail), made once per user."""
    from rapport.mail import services as mail
    from rapport.mail.models import Mailbox

    mailbox = Mailbox.objects.filter(owner=data.user, name="Swept").first()
    if mailbox is None:
        mailbox = Mailbox.objects.create(
            name="Swept", address=f"{data.user.username}@swept.example", owner=data.user, imap_host="imap.example.com",
            username=data.user.username, active=False,
        )  # fmt: skip
        raw = (
            b"From: Ann <ann@client.example>\r\nTo: me@swept.example\r\nSubject: Swept\r\n"
            b"Message-ID: <swept-" + str(data.user.pk).encode() + b"@x>\r\n"
            b'Content-Type: text/html\r\n\r\n<p>Hello <img src="https://img.example/x.png"></p>\r\n'
        )
        mail.store_message(mailbox, raw)
    return mailbox, mailbox.threads.order_by("pk").first()


def _integration() -> Any:
    """An integration (the demo has none) with one refused delivery in its log, made once by the administrator."""
    from rapport.integrations import services as integrations
    from rapport.integrations.models import Integration

    integration = Integration.objects.order_by("pk").first()
    if integration is None:
        admin = User.objects.get(username=DEMO_USERS["admin"])
        integration, _ = integrations.create_integration({"name": "Swept PBX", "kind": "telephony"}, actor=admin)
        integrations.InboundDelivery.objects.create(
            integration=integration, delivery_id="msg_swept", event_type="call", status="failed", http_status=400,
            message="Invalid fields: number.", fields={"number": ["Not a phone number."]},
        )  # fmt: skip
    return integration


def _email_template() -> list[str]:
    """The organisation's email template (the demo has none), made once by the administrator."""
    from rapport.compose import services as compose
    from rapport.compose.models import EmailTemplate

    template = EmailTemplate.objects.filter(owner__isnull=True).order_by("pk").first()
    if template is None:
        admin = User.objects.get(username=DEMO_USERS["admin"])
        template = compose.create_template(
            actor=admin, name="Follow-up", subject="Following up, {{ person.first_name|default:\"there\" }}",
            body="Hi {{ person.first_name }},\n\nThanks for your time. **{{ sender.full_name }}**", shared=True,
        )  # fmt: skip
    return [f"/email/templates/{template.pk}/"]


def _sent_email(data: Data) -> list[str]:
    """An email the user sent (scheduled for later, so nothing goes out), made once per user."""
    from rapport.compose.models import OutgoingMessage
    from rapport.compose.services import send_email

    message = OutgoingMessage.objects.filter(sender=data.user).order_by("pk").first()
    if message is None:
        from datetime import timedelta

        from django.utils import timezone

        later = timezone.now() + timedelta(days=30)
        message = send_email(
            sender=data.user, mailbox=None, to=["ann@example.com"], subject="Our call",
            body_html="<p>Thanks for the call.</p>", send_at=later, tracking=True,
        )  # fmt: skip
    return [f"/email/sent/{message.pk}/"]


def _rule() -> Any:
    """A workflow rule (the demo's first example, off)."""
    from rapport.automation.models import Rule

    return Rule.objects.order_by("pk").first()


def _import(data: Data) -> list[str]:
    """An import of the user's own, checked (a dry run with one rejected row); none for roles without import."""
    import io

    from rapport.imports import services as imports

    if not imports.importable_types(data.user):
        return []
    text = "First name,Last name,Email\nSwept,Person,swept@example.com\nBad,Row,not-an-email\n"
    imp = imports.create_import(
        actor=data.user, type_key="people", upload=io.BytesIO(text.encode()), filename="swept.csv"
    )
    imports.run_now(imp, dry_run=True)
    return [f"/import/{imp.pk}/"]


# URL name -> the addresses to sweep for it, filled from the demo data (per role).
ADDRESSES: dict[str, Callable[[Data], list[str]]] = {
    "record-list": lambda d: [f"/{k}/" for k in registry.keys()],
    "record-new": lambda d: [f"/{k}/new/" for k in registry.keys()],
    "record-detail": lambda d: [p for k in registry.keys() for p in d.records(k)],
    "record-edit": lambda d: [p for k in registry.keys() for p in d.records(k, "edit/", "change")],
    # One confirmation template for every type: one type shows it.
    "record-bulk-progress": _bulk_change,
    "record-delete": lambda d: d.records("deals", "delete/", "delete"),
    "import-detail": _import,
    # One template, each form's fields: every form once, on each kind of record that has them.
    "quicklog": lambda d: (
        d.records("deals", "quicklog/call/")
        + d.records("people", "quicklog/note/")
        + d.records("companies", "quicklog/task/")
        + d.records("deals", "quicklog/meeting/")
    ),
    "deal-line-items": lambda d: d.records("deals", "line-items/"),  # read-only lines for who may not change
    "deal-quotes": lambda d: d.records("deals", "quotes/"),
    "quote-detail": lambda d: [f"/quotes/{q.pk}/" for q in _quote(d)],
    "quote-print": lambda d: [f"/quotes/{q.pk}/print/" for q in _quote(d)],
    "settings-user-edit": lambda d: [f"/settings/users/{d.user.pk}/"],
    "settings-team-edit": lambda d: [f"/settings/teams/{t.pk}/" for t in Team.objects.order_by("pk")[:1]],
    "settings-role-edit": lambda d: [f"/settings/roles/{r.pk}/" for r in Role.objects.order_by("pk")],
    "settings-field-list": lambda d: [f"/settings/fields/{k}/" for k in registry.keys()],
    "settings-field-create": lambda d: [f"/settings/fields/{k}/new/" for k in registry.keys()[:1]],
    "settings-field-edit": lambda d: [
        f"/settings/fields/{f.record_type}/{f.pk}/" for f in CustomField.objects.order_by("pk")[:1]
    ],
    "settings-webhook": lambda d: [f"/settings/webhooks/{_webhook()[0].pk}/"],
    "settings-webhook-edit": lambda d: [f"/settings/webhooks/{_webhook()[0].pk}/edit/"],
    "mail-thread": lambda d: [f"/mail/threads/{_mail(d)[1].pk}/", f"/mail/threads/{_mail(d)[1].pk}/?images=1"],
    "mail-mailbox": lambda d: [f"/settings/mailboxes/{_mail(d)[0].pk}/"],
    "mail-mailbox-edit": lambda d: [f"/settings/mailboxes/{_mail(d)[0].pk}/edit/"],
    "settings-webhook-delivery": lambda d: [f"/settings/webhooks/deliveries/{_webhook()[1].pk}/"],
    "settings-integration": lambda d: [f"/settings/integrations/{_integration().pk}/"],
    "settings-integration-edit": lambda d: [f"/settings/integrations/{_integration().pk}/edit/"],
    "settings-automation-rule": lambda d: [f"/settings/automation/{_rule().pk}/"],
    "settings-automation-edit": lambda d: [f"/settings/automation/{_rule().pk}/edit/"],
    "settings-pipeline-edit": lambda d: [f"/settings/pipelines/{p.pk}/" for p in Pipeline.objects.order_by("pk")[:1]],
    "duplicates-merge": _merge_compare,
    "duplicates-merge-detail": _merge,
    # the demo's saved reports (a bar chart and a pivot) and dashboards (the default Sales one, Management)
    "reports-saved": lambda d: [f"/reports/saved/{r.pk}/" for r in SavedReport.objects.readable_by(d.user)[:2]],
    "reports-dashboard": lambda d: [
        f"/reports/dashboards/{b.pk}/" for b in Dashboard.objects.readable_by(d.user).order_by("pk")[:2]
    ],
    "report-standard": _standard_reports,
    "sequence": lambda d: [f"/sequences/{_sequence().pk}/"],
    "sequence-edit": _sequence_edit,
    "email-template": lambda d: _email_template(),
    "email-sent-detail": _sent_email,
}


def _reset_links() -> list[str]:
    user = User.objects.get(username=DEMO_USERS["member"])
    valid = f"/password-reset/{urlsafe_base64_encode(force_bytes(user.pk))}/{default_token_generator.make_token(user)}/"
    return [valid, "/password-reset/MQ/expired-or-used/"]


# Pages for visitors who are not signed in, by URL name: swept as such, not per role.
ANONYMOUS: dict[str, Callable[[], list[str]]] = {
    "login": lambda: ["/login/"],
    "password-reset": lambda: ["/password-reset/"],
    "password-reset-sent": lambda: ["/password-reset/sent/"],
    "password-reset-done": lambda: ["/password-reset/done/"],
    "password-reset-confirm": _reset_links,
    "email-unsubscribe": lambda: [f"/email/unsubscribe/{_unsubscribe_token()}/"],
}


def _unsubscribe_token() -> str:
    from rapport.compose.unsubscribe import token

    return token(1, "ann@example.com")


def intended_status(role: str, name: str, path: str, data: Data) -> int:
    """The status a role is meant to get on a page: settings are the administrator's (everyone has
    their own API tokens); a read-only user gets no form that adds anything; a record the role may
    see but not change or delete refuses its edit and delete pages."""
    if role != "admin" and name.startswith("settings") and name != "settings-tokens":
        return 403
    if role == "read-only" and name in READ_ONLY_REFUSED:
        return READ_ONLY_REFUSED[name]
    if name == "imports" and role in ("member", "read-only"):
        return 404  # their roles import nothing: answered like a page that is not there
    return data.refused.get(path, 200)


READ_ONLY_REFUSED = {
    "email-compose": 403,  # sending is logging an interaction: roles that add activities
    "record-new": 404,  # the type's "add" is not theirs: answered like a page that is not there
    "quicklog": 403,
    "sequence-new": 403,  # sequences write to people: who may not change people makes none
    "sequence-enrol": 403,
}


def _patterns(resolvers: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in resolvers:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _patterns(entry.url_patterns, route)
        else:
            yield route, entry


def page_patterns() -> list[tuple[str, str, bool]]:
    """(URL name, route, has parameters) of every address of the URLconf that is swept."""
    out = []
    for route, pattern in _patterns(get_resolver().url_patterns):
        if route.startswith(NOT_PAGE_PREFIXES) or route.lstrip("^").startswith(NOT_PAGE_PREFIXES):
            continue
        name = pattern.name or route
        if name in NOT_PAGES:
            continue
        out.append((name, route, bool(pattern.pattern.regex.groups)))
    return out


def test_every_address_is_swept_or_excluded() -> None:
    """A new address must be a page the sweep can fill in, or be excluded with its reason."""
    names = {pattern.name for _, pattern in _patterns(get_resolver().url_patterns)}
    unknown = [
        f"{name} ({route})"
        for name, route, has_params in page_patterns()
        if has_params and name not in ADDRESSES and name not in ANONYMOUS
    ]
    assert unknown == [], "add these to ADDRESSES (how to fill them) or NOT_PAGES (why they are no page)"
    stale = sorted((set(NOT_PAGES) | set(ADDRESSES) | set(ANONYMOUS)) - names)
    assert stale == [], "names no longer in the URLconf"


def paths_for(role: str, user: User) -> list[tuple[str, int]]:
    """(address, intended status) of every page, for ``user`` in ``role``."""
    data = Data(user)
    named = []
    for name, route, has_params in page_patterns():
        if name in ANONYMOUS:
            continue
        if has_params:
            named += [(name, path) for path in ADDRESSES[name](data)]
        else:
            named.append((name, "/" + route.lstrip("^").rstrip("$")))
    return [(path, intended_status(role, name, path, data)) for name, path in named]


# Collects, per page, CSP violations (the event fires in the page before any script of the app runs).
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " line " + e.lineNumber);
});
"""
# Resolves when htmx has no request in flight (hx-trigger="load" parts of a page have arrived).
SETTLED = "() => document.readyState === 'complete' && !document.querySelector('.htmx-request')"
WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def _open_window(context: Any, width: int, height: int) -> tuple[Any, list[str]]:
    """A page of ``context`` at ``width``, and the list its console errors and uncaught exceptions go to."""
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": height})
    page.set_default_timeout(10_000)
    log: list[str] = []
    page.on("console", lambda msg: log.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: log.append(f"uncaught: {exc}"))
    page.on("dialog", lambda dialog: dialog.dismiss())
    return page, log


def _problems_of(page: Any, log: list[str], base: str, path: str, expected: int) -> list[str]:
    log.clear()
    try:
        response = page.goto(base + path, wait_until="load")
        page.wait_for_function(SETTLED)
    except Exception as exc:  # noqa: BLE001 - the page failed to load: say so with the others
        return [f"did not load: {str(exc).splitlines()[0]}"]
    problems = []
    status = response.status if response else 0
    if status != expected:
        problems.append(f"status {status}, meant {expected}")
    console = list(log)
    if expected != 200:  # the browser logs the refused page itself as a failed load
        console = [c for c in console if not c.startswith("Failed to load resource")]
    if "images=1" in path:  # the message's remote image, asked for, cannot resolve on a machine without a network
        console = [c for c in console if c != "Failed to load resource: net::ERR_NAME_NOT_RESOLVED"]
    problems += [f"console: {c}" for c in console]
    problems += [f"CSP: {v}" for v in page.evaluate("window.__cspViolations || []")]
    scroll, inner = page.evaluate(WIDTH)
    if scroll > inner:
        problems.append(f"{scroll} px wide in a {inner} px window")
    return problems


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_every_page_as_every_role_at_both_widths(live_server: Any, transactional_db: Any) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
    call_command("demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    base = live_server.url
    failures: dict[str, list[str]] = {}
    swept = 0
    started = time.monotonic()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        for role, username in [*DEMO_USERS.items(), ("anonymous", "")]:
            context = browser.new_context()
            context.add_init_script(CSP_LISTENER)
            if username:
                user = User.objects.get(username=username)
                client = Client()
                client.force_login(user)
                cookie = client.cookies["sessionid"]
                context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": base}])
                pages = paths_for(role, user)
            else:
                pages = [(path, 200) for paths in ANONYMOUS.values() for path in paths()]
            windows = {width: _open_window(context, width, height) for width, height in WIDTHS.items()}
            shown_refusals: set[int] = set()
            for path, expected in pages:
                if expected != 200 and expected in shown_refusals:
                    # The same error page again: its status is what matters (asked without a browser).
                    status = context.request.get(base + path, max_redirects=0).status
                    if status != expected:
                        failures[f"{role} {path}"] = [f"status {status}, meant {expected}"]
                    continue
                shown_refusals.add(expected)
                for width, (window, log) in windows.items():
                    swept += 1
                    problems = _problems_of(window, log, base, path, expected)
                    if problems:
                        failures[f"{role} {width}px {path}"] = problems
            context.close()
        browser.close()
    elapsed = time.monotonic() - started
    report = "\n".join(f"{where}: {'; '.join(problems)}" for where, problems in sorted(failures.items()))
    print(f"{swept} page views in {elapsed:.0f} s")
    assert not failures, f"{len(failures)} of {swept} page views failed ({elapsed:.0f} s):\n{report}"
