"""Fixtures: teams, a user per role, and records made through the real write services."""

from __future__ import annotations

import importlib
import time
from typing import Any

import pytest
from django.test import Client

from rapport.accounts.models import ApiToken, Role, Team, User
from rapport.accounts.roles import DEFAULT_ROLES
from rapport.contacts.models import Company, Person
from rapport.core import registry, services
from rapport.core.visibility import SYSTEM

from . import schema_check
from .mail_servers import dovecot, imap_account, mark_mail_server_tests, smtp_server  # noqa: F401 (fixtures)

ROLE_KEYS = ["admin", "manager", "member", "read-only"]


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "no_schema_check: this test's /api/ answers are not checked against the schema")


def pytest_collection_modifyitems(items: list[Any]) -> None:
    mark_mail_server_tests(items)


@pytest.fixture(scope="session", autouse=True)
def _api_responses_match_the_schema() -> None:
    """Every /api/ response of the suite is validated against the published schema (tests/schema_check.py)."""
    schema_check.install()


@pytest.fixture(autouse=True)
def _schema_check_per_test(request: Any) -> Any:
    generation = schema_check._state["generation"]
    schema_check.set_enabled(request.node.get_closest_marker("no_schema_check") is None)
    yield
    schema_check.set_enabled(True)
    if schema_check._state["generation"] != generation:
        schema_check.schema_changed()  # custom fields made by this test are rolled back: rebuild next time


INVARIANT_COST = {"seconds": 0.0, "checks": 0}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if INVARIANT_COST["checks"]:
        terminalreporter.write_line(
            f"history invariant: {INVARIANT_COST['checks']} checks, {INVARIANT_COST['seconds']:.1f} s"
        )


@pytest.fixture(autouse=True)
def history_invariant(request: pytest.FixtureRequest) -> Any:
    """After every test that used the database, the write path's invariants hold over everything
    it wrote (core/invariants.py): a write that bypasses the services fails the test that made it."""
    names = request.fixturenames
    marker = request.node.get_closest_marker("django_db")
    transactional = (
        "transactional_db" in names or "live_server" in names or bool(marker and marker.kwargs.get("transaction"))
    )
    if not (transactional or marker or "db" in names):
        yield
        return
    # Set the database up before this fixture, so this teardown runs before its rollback or flush.
    request.getfixturevalue("transactional_db" if transactional else "db")
    yield
    exempt = request.node.get_closest_marker("history_exempt")
    if exempt is not None:
        assert exempt.kwargs.get("reason"), "say why the history invariant cannot hold: history_exempt(reason=...)"
        return
    from rapport.core.invariants import history_problems

    started = time.perf_counter()
    problems = history_problems()
    INVARIANT_COST["seconds"] += time.perf_counter() - started
    INVARIANT_COST["checks"] += 1
    if problems:
        pytest.fail("History invariant broken (write outside core/services.py?):\n" + "\n".join(problems[:20]))


def default_role(key: str) -> Role:
    """A built-in role; transactional tests flush the tables, so re-create it as the migrations leave it."""
    _, name, grants, manage = next(r for r in DEFAULT_ROLES if r[0] == key)
    role, _ = Role.objects.get_or_create(key=key, defaults={"name": name, "grants": grants, "manage_settings": manage})
    return role


def default_pipeline() -> Any:
    """The pipeline the migrations create; transactional tests flush it, so re-create it."""
    from django.apps import apps

    from rapport.deals.models import Pipeline

    importlib.import_module("rapport.sales.migrations.0002_default_pipeline").create(apps, None, app_label="deals")
    return Pipeline.objects.get(name="Sales pipeline")


def make_user(username: str, role: str, team: Team | None = None, **extra: Any) -> User:
    return User.objects.create_user(
        username=username,
        password="correct horse battery",
        role=default_role(role),
        team=team,
        first_name=username.title(),
        **extra,
    )


def write(type_key: str, data: dict[str, Any], *, actor: Any, instance: Any = None) -> Any:
    """Create or update a record through its serializer and the write service, like the API does."""
    rtype = registry.get(type_key)
    # Tests arrange data across teams with this helper: links are checked as for a system write
    # (any live record); the link rule itself is tested through the API and pages.
    serializer = rtype.get_serializer_class()(
        instance, data=data, partial=instance is not None, context={"actor": SYSTEM}
    )
    assert serializer.is_valid(), serializer.errors
    if instance is None:
        return services.create_record(rtype.model, serializer.validated_data, actor=actor, source="system")
    return services.update_record(instance, serializer.validated_data, actor=actor, source="system")


@pytest.fixture
def teams(db: Any) -> dict[str, Team]:
    return {"east": Team.objects.create(name="East"), "west": Team.objects.create(name="West")}


@pytest.fixture
def users(teams: dict[str, Team]) -> dict[str, User]:
    out = {role: make_user(role.replace("-", "_"), role, teams["east"]) for role in ROLE_KEYS}
    out["peer"] = make_user("peer", "member", teams["east"])
    out["outsider"] = make_user("outsider", "member", teams["west"])
    return out


@pytest.fixture
def team_scoped_catalogue(users: dict[str, User]) -> None:
    """The built-in roles see the whole product catalogue (accounts.roles.CATALOGUE); the generic
    suites prove the team rule on every registered type, so there the roles scope products by team
    like everything else (what the catalogue grants is tested in test_product_catalogue.py)."""
    for role in Role.objects.filter(grants__has_key="products"):
        role.grants = {k: v for k, v in role.grants.items() if k != "products"}
        role.save(update_fields=["grants"])
    for user in users.values():
        user.refresh_from_db()


@pytest.fixture
def company(users: dict[str, User]) -> Company:
    return write("companies", {"name": "Acme", "domain": "acme.com"}, actor=users["member"])


@pytest.fixture
def person(users: dict[str, User], company: Company) -> Person:
    return write(
        "people",
        {"first_name": "Ada", "last_name": "Lovelace", "emails": ["ada@acme.com"], "company": company.pk},
        actor=users["member"],
    )


@pytest.fixture
def api_client_for():
    def make(user: User, scope: str = ApiToken.SCOPE_WRITE) -> Client:
        _, raw = ApiToken.issue(user, name="test", scope=scope)
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    return make


def statement_sql(sql: str) -> str:
    """A captured statement's SQL; for the EXECUTE of a prepared record lookup or child-row read (PostgreSQL,
    core/children.py), the SQL it prepared, with ``$1``… in its parameters' places."""
    from django.db import connection

    if not sql.startswith("EXECUTE rapport_q"):
        return sql
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE name = %s", [sql[8:].split("(")[0]])
        return str(cursor.fetchone()[0]).split(" AS ", 1)[1]
