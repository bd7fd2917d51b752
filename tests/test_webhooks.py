"""Outgoing webhooks: deliveries made from events (idempotent, filtered, visibility of the creator), signed per
Standard Webhooks and verified by the official ``standardwebhooks`` package in a REAL receiver on loopback,
retries with backoff over about a day, order per record, a receiver down for an hour, a worker killed
mid-delivery, the flag and the disabling, the API and the pages."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time
from standardwebhooks import Webhook

from rapport.accounts.models import Role, User
from rapport.contacts.models import Company
from rapport.core.models import AuditEntry
from rapport.jobs.events import dispatch_pending
from rapport.webhooks import services
from rapport.webhooks.models import Delivery, DeliveryAttempt, Subscription

from .conftest import make_user, write
from .jobs_helpers import kill_hard, start


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class Receiver:
    """A receiver on 127.0.0.1 that verifies each delivery with the standardwebhooks package (when it knows the
    secret), records it, and answers ``status`` (503 while "down"); ``hold`` makes it wait before answering."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self.secret = ""
        self.hold = 0.0
        self.got_one = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = None
                if owner.secret:
                    verified = Webhook(owner.secret).verify(body, headers)
                owner.received.append({"headers": headers, "body": body, "verified": verified, "status": owner.status})
                owner.got_one.set()
                if owner.hold:
                    time.sleep(owner.hold)
                reply = b'{"ok": true}' if owner.status < 300 else b"down for maintenance"
                self.send_response(owner.status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    server = Receiver()
    settings.RAPPORT_HTTP_ALLOWED_PORTS = [server.port]
    settings.RAPPORT_HTTP_ALLOW_PRIVATE = ["127.0.0.1/32"]
    yield server
    server.close()


def subscribe(receiver: Receiver, creator: User, **data: Any) -> Subscription:
    subscription = services.create_subscription({"name": "ERP", "url": receiver.url, **data}, actor=creator)
    receiver.secret = subscription.secret
    return subscription


def deliver() -> int:
    """What the worker does after a commit: dispatch the events, then send what is due."""
    dispatch_pending()
    return services.send_due()


# --- signatures ----------------------------------------------------------------------------------------------


def test_the_signature_is_the_standard_webhooks_one_worked_by_hand() -> None:
    # The example of the Standard Webhooks specification (and of its libraries' tests).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = services.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    expected = hmac.new(key, b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330." + body, hashlib.sha256).digest()
    assert signature == "v1," + base64.b64encode(expected).decode()
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_new_secret_is_32_random_bytes_in_the_whsec_form(users: dict[str, User]) -> None:
    subscription = services.create_subscription(
        {"name": "A", "url": "https://hooks.example.com/"}, actor=users["admin"]
    )
    assert subscription.secret.startswith("whsec_")
    assert len(base64.b64decode(subscription.secret[6:])) == 32
    old = subscription.secret
    services.rotate_secret(subscription, actor=users["admin"])
    assert subscription.secret != old and subscription.secret.startswith("whsec_")
    audit = list(AuditEntry.objects.filter(kind="webhook").order_by("id").values_list("action", flat=True))
    assert audit == ["created", "changed"]
    assert old not in str(list(AuditEntry.objects.values_list("changes", flat=True)))


def test_a_change_reaches_a_real_receiver_signed_and_verified_by_the_official_package(
    receiver: Receiver, users: dict[str, User]
) -> None:
    subscribe(receiver, users["admin"])
    company = write("companies", {"name": "Acme", "domain": "acme.com"}, actor=users["member"])
    assert deliver() == 1
    [got] = receiver.received
    assert got["verified"]["type"] == "company.created"  # Webhook.verify raised on a bad signature
    delivery = Delivery.objects.get()
    assert got["headers"]["webhook-id"] == delivery.message_id
    assert got["headers"]["content-type"] == "application/json"
    assert got["headers"]["user-agent"].startswith("Rapport/")
    data = got["verified"]["data"]
    assert (data["record_type"], data["record_id"], data["kind"], data["source"]) == (
        "companies",
        company.pk,
        "created",
        "system",
    )
    assert data["actor"] == {"id": users["member"].pk, "name": "Member"}
    assert data["record"]["name"] == "Acme" and data["record"]["url"] == f"/api/v1/companies/{company.pk}/"
    assert data["changes"]["name"] == [None, "Acme"]
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 200)
    [attempt] = DeliveryAttempt.objects.all()
    assert (attempt.status_code, attempt.response_excerpt, attempt.error) == (200, '{"ok": true}', "")


def test_a_tampered_body_fails_verification(receiver: Receiver, users: dict[str, User]) -> None:
    subscription = subscribe(receiver, users["admin"])
    write("companies", {"name": "Acme"}, actor=users["member"])
    deliver()
    got = receiver.received[0]
    with pytest.raises(Exception, match="No matching signature found"):
        Webhook(subscription.secret).verify(got["body"].replace(b"Acme", b"Evil"), got["headers"])


# --- which events, idempotency, visibility ---------------------------------------------------------------------


def test_subscriptions_filter_by_event_and_record_type_and_deals_say_won(
    receiver: Receiver, users: dict[str, User]
) -> None:
    from .conftest import default_pipeline

    pipeline = default_pipeline()
    won = pipeline.stages.get(kind="won")
    subscribe(receiver, users["admin"], event_types=["won"], type_keys=["deals"])
    company = write("companies", {"name": "Acme"}, actor=users["member"])
    deal = write("deals", {"title": "Big one", "company": company.pk, "amount": "1000.00"}, actor=users["member"])
    write("deals", {"stage": won.pk}, actor=users["member"], instance=deal)
    deliver()
    assert [p["type"] for p in receiver.payloads()] == ["deal.won"]
    assert receiver.payloads()[0]["data"]["kinds"] == ["won", "stage_changed", "updated"]


def test_a_delivery_is_made_once_per_event_however_often_it_is_dispatched(
    receiver: Receiver, users: dict[str, User]
) -> None:
    from rapport.core.models import Event

    subscribe(receiver, users["admin"])
    write("companies", {"name": "Acme"}, actor=users["member"])
    event = Event.objects.get(type_key="companies")
    assert services.deliveries_for_event(event) == 1
    services.deliveries_for_event(event)  # the sweep after a crash between consumer and mark
    assert Delivery.objects.count() == 1


def test_payloads_show_only_what_the_subscription_creator_may_see(receiver: Receiver, users: dict[str, User]) -> None:
    team_admin_role = Role.objects.create(
        key="team-admin", name="Team admin", grants={"*": {"view": "team"}}, manage_settings=True
    )
    east_admin = make_user("eastadmin", "member", users["member"].team)
    east_admin.role = team_admin_role
    east_admin.save()
    subscribe(receiver, east_admin)
    west_company = write("companies", {"name": "Westco Secret Name"}, actor=users["outsider"])
    write("people", {"first_name": "Wes", "last_name": "West", "company": west_company.pk}, actor=users["outsider"])
    ada = write("people", {"first_name": "Ada", "last_name": "East", "company": west_company.pk}, actor=users["member"])
    deliver()
    payloads = receiver.payloads()
    assert [(p["type"], p["data"]["record_id"]) for p in payloads] == [("person.created", ada.pk)]
    assert payloads[0]["data"]["record"]["company"] == {"id": west_company.pk, "name": None}
    assert b"Westco" not in b"".join(r["body"] for r in receiver.received)


# --- retries, flag, disable ----------------------------------------------------------------------------------


def test_retries_back_off_for_about_a_day_then_the_delivery_is_given_up_and_the_subscription_flagged(
    receiver: Receiver, users: dict[str, User], settings: Any
) -> None:
    settings.RAPPORT_WEBHOOK_CONCURRENCY = 1  # one at a time: freezegun's clock is not the threads'
    receiver.status = 503
    subscription = subscribe(receiver, users["admin"])
    start_at = timezone.now().replace(microsecond=0)
    waits = []
    with freeze_time(start_at) as clock:
        write("companies", {"name": "Acme"}, actor=users["member"])
        deliver()
        delivery = Delivery.objects.get()
        for expected in services.RETRY_SCHEDULE:
            delivery.refresh_from_db()
            wait = delivery.next_attempt_at - timezone.now()
            waits.append(wait)
            # ±10 % jitter around 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h
            assert expected * 0.9 <= wait <= expected * 1.1, (expected, wait)
            clock.tick(wait - timedelta(seconds=1))
            assert services.send_due() == 0  # not yet due
            clock.tick(timedelta(seconds=1))
            assert services.send_due() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 8, 503)
    assert len(receiver.received) == 8
    assert {r["headers"]["webhook-id"] for r in receiver.received} == {delivery.message_id}
    assert [a.status_code for a in DeliveryAttempt.objects.order_by("id")] == [503] * 8
    total = sum(waits, timedelta())
    assert timedelta(hours=28) < total < timedelta(hours=35)  # about a day and a half at most
    subscription.refresh_from_db()
    assert subscription.flagged_at is not None and subscription.active and subscription.failed_in_a_row == 1


def test_after_n_deliveries_given_up_in_a_row_the_subscription_is_disabled_and_re_enabled_by_hand(
    receiver: Receiver, users: dict[str, User], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.RAPPORT_WEBHOOK_DISABLE_AFTER = 2
    monkeypatch.setattr(services, "RETRY_SCHEDULE", [])
    monkeypatch.setattr(services, "MAX_ATTEMPTS", 1)
    receiver.status = 500
    subscription = subscribe(receiver, users["admin"])
    write("companies", {"name": "One"}, actor=users["member"])
    write("companies", {"name": "Two"}, actor=users["member"])
    deliver()
    subscription.refresh_from_db()
    assert not subscription.active
    assert subscription.disabled_reason.startswith("Disabled after 2 deliveries in a row were given up")
    write("companies", {"name": "Three"}, actor=users["member"])
    deliver()
    assert len(receiver.received) == 2  # a disabled subscription gets no new deliveries
    receiver.status = 200
    services.update_subscription(subscription, {"active": True}, actor=users["admin"])
    assert (subscription.disabled_reason, subscription.failed_in_a_row, subscription.flagged_at) == ("", 0, None)
    delivery = Delivery.objects.filter(status="failed").order_by("id").first()
    assert delivery is not None
    services.redeliver(delivery, actor=users["admin"])
    services.send_due()
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"
    assert receiver.received[-1]["headers"]["webhook-id"] == delivery.message_id


# --- order per record, a receiver down for an hour ------------------------------------------------------------


def test_deliveries_go_in_order_per_record_a_later_one_waits_for_the_earlier(
    receiver: Receiver, users: dict[str, User], settings: Any
) -> None:
    settings.RAPPORT_WEBHOOK_CONCURRENCY = 1  # one at a time: freezegun's clock is not the threads'
    subscribe(receiver, users["admin"])
    start_at = timezone.now().replace(microsecond=0)
    with freeze_time(start_at) as clock:
        acme = write("companies", {"name": "Acme"}, actor=users["member"])
        dispatch_pending()
        receiver.status = 503
        services.send_due()  # Acme's creation fails: retry in ~5 s
        write("companies", {"name": "Acme 2"}, actor=users["member"], instance=acme)
        other = write("companies", {"name": "Other"}, actor=users["member"])
        dispatch_pending()
        receiver.status = 200
        services.send_due()
        # Other's went; Acme's update waits behind Acme's creation, which is not due yet.
        assert [(p["data"]["record_id"], p["data"]["kind"]) for p in receiver.payloads()] == [
            (acme.pk, "created"),
            (other.pk, "created"),
        ]
        clock.tick(timedelta(seconds=6))
        services.send_due()
    assert [(p["data"]["record_id"], p["data"]["kind"]) for p in receiver.payloads()[2:]] == [
        (acme.pk, "created"),
        (acme.pk, "updated"),
    ]


def test_a_receiver_down_for_an_hour_gets_every_delivery_afterwards_in_order(
    receiver: Receiver, users: dict[str, User], settings: Any
) -> None:
    """Three companies made, then changed every ten minutes while the receiver answers 503 for an hour; the sender
    runs every minute (simulated time) for seven hours. Each company's first delivery backs off 5 s, 5 min, 30 min
    (attempts at minutes 0, 1, 6–7 and 34–40: four failures each within the hour), the next wait is 2 h ±10 %
    (108–132 min): so nothing arrives before minute 114, and then every delivery arrives once, in order per record."""
    settings.RAPPORT_WEBHOOK_CONCURRENCY = 1  # one at a time: freezegun's clock is not the threads'
    subscribe(receiver, users["admin"])
    start_at = timezone.now().replace(microsecond=0)
    receiver.status = 503
    written: dict[int, list[str]] = {}
    with freeze_time(start_at) as clock:
        companies = [write("companies", {"name": f"C{i}"}, actor=users["member"]) for i in range(3)]
        for c in companies:
            written[c.pk] = [c.name]
        for minute in range(60):  # a change every ten minutes while the receiver is down, the sender every minute
            if minute % 10 == 5:
                c = companies[minute % 3]
                name = f"C{minute % 3}-{minute}"
                write("companies", {"name": name}, actor=users["member"], instance=Company.objects.get(pk=c.pk))
                written[c.pk].append(name)
            deliver()
            clock.tick(timedelta(minutes=1))
        assert DeliveryAttempt.objects.filter(status_code=503).count() == 3 * 4
        assert not DeliveryAttempt.objects.filter(status_code=200).exists()
        receiver.status = 200
        came_back = timezone.now()
        for _ in range(6 * 60):  # the sender keeps running every minute for six more hours
            services.send_due()
            clock.tick(timedelta(minutes=1))
    assert Delivery.objects.exclude(status="succeeded").count() == 0
    assert Delivery.objects.count() == 3 + 6  # no event lost: three creations, six changes
    ok_attempts = list(DeliveryAttempt.objects.filter(status_code=200).order_by("id"))
    assert len(ok_attempts) == 9  # each exactly once
    assert min(a.at for a in ok_attempts) >= came_back + timedelta(minutes=114 - 60)
    ok = [json.loads(r["body"]) for r in receiver.received if r["status"] == 200]
    assert len(ok) == 9 and all(r["verified"] is not None for r in receiver.received)
    for company in companies:
        mine = [p for p in ok if p["data"]["record_id"] == company.pk]
        # Hand-worked: C0 changed at minute 15 and 45, C1 at 25 and 55, C2 at 5 and 35.
        assert [p["data"]["record"]["name"] for p in mine] == written[company.pk]
        assert [p["data"]["kind"] for p in mine] == ["created", "updated", "updated"]
        event_ids = [p["data"]["event_id"] for p in mine]
        assert event_ids == sorted(event_ids)
    assert {pk: names[1:] for pk, names in written.items()} == {
        companies[0].pk: ["C0-15", "C0-45"],
        companies[1].pk: ["C1-25", "C1-55"],
        companies[2].pk: ["C2-5", "C2-35"],
    }


# --- a worker killed mid-delivery ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_delivery_loses_nothing_and_the_delivery_succeeds_once(
    receiver: Receiver, tmp_path: Any
) -> None:
    admin = make_user("boss", "admin")
    subscription = subscribe(receiver, admin)
    write("companies", {"name": "Acme"}, actor=admin)
    dispatch_pending()  # makes the delivery and enqueues the sender
    delivery = Delivery.objects.get()
    receiver.hold = 30  # the receiver takes its time: the worker is killed while it waits
    worker = start(
        "worker", tmp_path, "--interval", "0.2",
        RAPPORT_HTTP_ALLOWED_PORTS=str(receiver.port), RAPPORT_HTTP_ALLOW_PRIVATE="127.0.0.1/32",
    )  # fmt: skip
    try:
        assert receiver.got_one.wait(30), "the worker never posted"
    finally:
        kill_hard(worker)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)  # nothing recorded: still due after the lease
    assert DeliveryAttempt.objects.count() == 0
    receiver.hold = 0
    with freeze_time(timezone.now() + services.LEASE - timedelta(seconds=5)):
        assert services.send_due() == 0  # claimed by the dead worker until its lease ends
    with freeze_time(timezone.now() + services.LEASE + timedelta(seconds=1)):
        assert services.send_due() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)
    assert DeliveryAttempt.objects.filter(status_code=200).count() == 1
    # At least once: the receiver saw it twice with one webhook-id, and dedupes by it.
    assert [r["headers"]["webhook-id"] for r in receiver.received] == [delivery.message_id] * 2
    assert subscription.deliveries.count() == 1


# --- API -----------------------------------------------------------------------------------------------------


def test_the_api_manages_subscriptions_and_deliveries(
    receiver: Receiver, users: dict[str, User], api_client_for: Any
) -> None:
    api = api_client_for(users["admin"])
    created = api.post(
        "/api/v1/webhooks/",
        {"name": "ERP", "url": receiver.url, "event_types": ["updated", "created"], "type_keys": ["companies"]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["event_types"] == ["created", "updated"] and body["secret"].startswith("whsec_")
    assert created["Location"] == f"/api/v1/webhooks/{body['id']}/"
    receiver.secret = body["secret"]
    test = api.post(f"/api/v1/webhooks/{body['id']}/test/")
    assert test.status_code == 202 and test.json()["event_type"] == "ping"
    services.send_due()
    assert receiver.received[0]["verified"]["type"] == "ping"
    listed = api.get(f"/api/v1/webhooks/{body['id']}/deliveries/?status=succeeded")
    assert [d["event_type"] for d in listed.json()["results"]] == ["ping"]
    delivery_id = listed.json()["results"][0]["id"]
    detail = api.get(f"/api/v1/webhooks/deliveries/{delivery_id}/").json()
    assert detail["payload"]["type"] == "ping" and detail["attempt_log"][0]["status_code"] == 200
    assert api.post(f"/api/v1/webhooks/deliveries/{delivery_id}/redeliver/").status_code == 202
    services.send_due()
    assert len(receiver.received) == 2
    rotated = api.post(f"/api/v1/webhooks/{body['id']}/rotate-secret/").json()
    assert rotated["secret"] != body["secret"]
    patched = api.patch(f"/api/v1/webhooks/{body['id']}/", {"active": False}, content_type="application/json")
    assert patched.json()["active"] is False
    assert [s["name"] for s in api.get("/api/v1/webhooks/").json()["results"]] == ["ERP"]
    assert api.delete(f"/api/v1/webhooks/{body['id']}/").status_code == 204
    assert not Delivery.objects.exists()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://0177.0.0.1/", "loopback"),
        ("ftp://example.com/", "Only http:// and https://"),
        ("https://user:pw@example.com/", "user name or password"),
        ("https://example.com:22/", "Port 22 is not allowed"),
    ],
)
def test_the_api_refuses_urls_the_client_would_refuse_naming_the_field(
    users: dict[str, User], api_client_for: Any, url: str, says: str
) -> None:
    answer = api_client_for(users["admin"]).post(
        "/api/v1/webhooks/", {"name": "X", "url": url}, content_type="application/json"
    )
    assert answer.status_code == 400
    assert says in json.dumps(answer.json()["fields"]["url"])


def test_the_api_is_for_settings_managers_only(users: dict[str, User], api_client_for: Any) -> None:
    services.create_subscription({"name": "A", "url": "https://hooks.example.com/"}, actor=users["admin"])
    api = api_client_for(users["manager"])
    assert api.get("/api/v1/webhooks/").status_code == 403
    assert (
        api.post(
            "/api/v1/webhooks/", {"name": "X", "url": "https://a.example.com/"}, content_type="application/json"
        ).status_code
        == 403
    )
    bad = api_client_for(users["admin"]).post(
        "/api/v1/webhooks/",
        {"name": "X", "url": "https://a.example.com/", "event_types": ["exploded"]},
        content_type="application/json",
    )
    assert bad.status_code == 400
    assert bad.json()["fields"] == {"event_types[0]": ['"exploded" is not a valid choice.']}


# --- pages ---------------------------------------------------------------------------------------------------


def test_the_pages_for_settings_managers_with_pinned_queries(
    client: Any, receiver: Receiver, users: dict[str, User]
) -> None:
    client.force_login(users["admin"])
    answer = client.post(
        "/settings/webhooks/new/",
        {"name": "ERP", "url": receiver.url, "event_types": ["created"], "active": "on"},
    )
    subscription = Subscription.objects.get()
    assert answer.status_code == 302 and answer["Location"] == f"/settings/webhooks/{subscription.pk}/"
    receiver.secret = subscription.secret
    client.post(f"/settings/webhooks/{subscription.pk}/test/")
    for i in range(3):
        write("companies", {"name": f"C{i}"}, actor=users["member"])
    deliver()
    with CaptureQueriesContext(connection) as listing:
        page = client.get("/settings/webhooks/")
    assert page.status_code == 200 and b"ERP" in page.content
    with CaptureQueriesContext(connection) as log:
        page = client.get(f"/settings/webhooks/{subscription.pk}/")
    assert page.status_code == 200
    assert page.content.count(b"Succeeded</span>") == 4
    delivery = Delivery.objects.filter(event_type="ping").get()
    with CaptureQueriesContext(connection) as one:
        page = client.get(f"/settings/webhooks/deliveries/{delivery.pk}/")
    assert page.status_code == 200 and b"A test from Rapport" in page.content
    # session, user, role; then the page's own reads, the same whatever the number of rows: the subscriptions;
    # the log's keyset page (ids, then rows); the delivery with its subscription, then its attempts.
    assert (len(listing), len(log), len(one)) == (4, 6, 5)
    assert client.post(f"/settings/webhooks/deliveries/{delivery.pk}/redeliver/").status_code == 302
    bad = client.post("/settings/webhooks/new/", {"name": "Meta", "url": "http://169.254.169.254/"})
    assert bad.status_code == 200 and b"link-local" in bad.content


def test_the_pages_are_closed_to_others(client: Any, users: dict[str, User]) -> None:
    subscription = services.create_subscription(
        {"name": "A", "url": "https://hooks.example.com/"}, actor=users["admin"]
    )
    client.force_login(users["manager"])
    for path in ("/settings/webhooks/", f"/settings/webhooks/{subscription.pk}/", "/settings/webhooks/new/"):
        assert client.get(path).status_code == 403
    assert client.post(f"/settings/webhooks/{subscription.pk}/test/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_a_write_enqueues_one_event_dispatch_with_its_commit_however_many_events_it_wrote() -> None:
    """The database queue's job row is written in the write's transaction (it commits with the events, no
    commit of its own); a rolled-back write, or a rolled-back savepoint, leaves no job behind."""
    from django.db import transaction
    from django_tasks_db.models import DBTaskResult

    admin = make_user("boss", "admin")
    dispatches = DBTaskResult.objects.filter(task_path="rapport.jobs.tasks.dispatch_events")
    before = dispatches.count()
    with transaction.atomic():
        for i in range(3):
            write("companies", {"name": f"C{i}"}, actor=admin)
        assert dispatches.count() == before + 1  # one, written with the first event
    assert dispatches.count() == before + 1
    write("companies", {"name": "Alone"}, actor=admin)
    assert dispatches.count() == before + 2

    class Undone(Exception):
        pass

    with pytest.raises(Undone), transaction.atomic():
        write("companies", {"name": "Undone"}, actor=admin)
        raise Undone
    assert dispatches.count() == before + 2
    with transaction.atomic():
        try:
            with transaction.atomic():
                write("companies", {"name": "Undone too"}, actor=admin)
                raise Undone
        except Undone:
            pass
        write("companies", {"name": "Kept"}, actor=admin)  # its own job: the first one went with the savepoint
    assert dispatches.count() == before + 3


# --- batches: made together, sent concurrently ----------------------------------------------------------------


def test_a_batch_of_events_makes_its_deliveries_together_and_sends_them_concurrently_in_order_per_record(
    receiver: Receiver, users: dict[str, User], settings: Any
) -> None:
    """Twelve companies, each made and changed twice: one dispatch makes the 36 deliveries with a fixed number of
    statements; the sender posts up to 8 at once (the receiver holds each answer 0.2 s: twelve heads at a time
    take about two holds, not twelve), and each company's three deliveries arrive in order."""
    settings.RAPPORT_WEBHOOK_CONCURRENCY = 8
    subscribe(receiver, users["admin"])
    companies = [write("companies", {"name": f"C{i}"}, actor=users["member"]) for i in range(12)]
    for round_ in (1, 2):
        for i, c in enumerate(companies):
            companies[i] = write("companies", {"name": f"C{i}-{round_}"}, actor=users["member"], instance=c)
    with CaptureQueriesContext(connection) as queries:
        assert dispatch_pending() == 36
    # A fixed number for the 36 events (14 today, with every app's consumers: savepoint, the events locked, the
    # subscriptions, the actors, the records as the creator sees them with what the representation reads, the
    # deliveries in one INSERT, the events marked), not a few per event as before.
    assert Delivery.objects.count() == 36
    assert len(queries) <= 16, [q["sql"][:80] for q in queries.captured_queries]
    receiver.hold = 0.2
    started = time.monotonic()
    while services.send_due():
        pass
    elapsed = time.monotonic() - started
    assert Delivery.objects.filter(status="succeeded").count() == 36
    # three rounds of twelve heads, each round two waves of at most 8: 6 × 0.2 s, far below 36 × 0.2 s = 7.2 s
    assert elapsed < 4.0, elapsed
    for i, company in enumerate(companies):
        mine = [p for p in receiver.payloads() if p["data"]["record_id"] == company.pk]
        # the change each carries, in the order made (the record itself is as it was when dispatched: the last)
        assert [p["data"]["changes"]["name"][1] for p in mine] == [f"C{i}", f"C{i}-1", f"C{i}-2"]
        assert [p["data"]["kind"] for p in mine] == ["created", "updated", "updated"]
    assert all(r["verified"] is not None for r in receiver.received)
