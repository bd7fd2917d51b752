"""The API list's filters compiled as a WHERE of the type's table (core.projection.filter_where), once per
shape and reused with each request's values, select exactly what the ORM's filter() selects: for every
registered type, every filter, values of the same shape one after the other (the second request reuses
the first one's SQL), duplicates, and "none"."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.http import QueryDict

from rapport.core import listing, projection, registry

from .conftest import write
from .test_api_generic import make

pytestmark = pytest.mark.usefixtures("team_scoped_catalogue")


def _candidates(rtype: Any, spec: Any, users: dict[str, Any], teams: dict[str, Any]) -> list[str]:
    """Values worth filtering ``spec`` by: the choices, the users, teams and records there are, the
    values the records hold."""
    if spec.kind == "choice":
        return [c for c, _ in spec.choices]
    if spec.kind == "user":
        return [str(users["member"].id), str(users["outsider"].id), "none", "me"]
    if spec.kind == "team":
        return [str(teams["east"].id), str(teams["west"].id), "none"]
    if spec.kind == "present":
        return ["yes", "no"]
    if spec.kind in ("record", "id", "link", "exact", "tag", "text"):
        held = rtype.model.objects.exclude(**{f"{spec.path}__isnull": True}) if spec.kind != "link" else None
        values = [str(v) for v in held.values_list(spec.path, flat=True).distinct()[:3]] if held is not None else []
        return [*values, "1", "unheard-of"] if spec.kind != "tag" else ["vip", "key-account", "none-such"]
    return []


def _selected(model: Any, where: tuple[str, list[Any]]) -> set[int]:
    sql, params = where
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cur:
        cur.execute(f"SELECT id FROM {table}" + (f" WHERE {sql}" if sql else ""), params)  # noqa: S608
        return {row[0] for row in cur.fetchall()}


@pytest.mark.parametrize("type_key", registry.keys())
def test_filters_compiled_once_per_shape_select_what_the_orm_selects(type_key, users, teams):
    rtype = registry.get(type_key)
    for n, owner in enumerate([users["member"], users["outsider"], users["admin"], users["member"]]):
        make(type_key, owner, n)
    viewer = users["admin"]
    checked = reused = 0
    for spec in rtype.filters:
        if spec.kind == "date_range":
            continue
        values = _candidates(rtype, spec, users, teams)
        # one value at a time (the first compiles, the next reuse its SQL), pairs, a duplicate
        asked = [[v] for v in values] + [values[i : i + 2] for i in range(len(values) - 1)] + [values[:1] * 2]
        for chosen in asked:
            if not chosen:
                continue
            try:
                q = listing.build_filter(rtype, QueryDict(f"{spec.name}={','.join(chosen)}"), viewer)
            except listing.QueryError:
                continue  # a value the filter refuses (an id of text): the API answers 400 before any SQL
            expected = set(rtype.model.objects.filter(q).values_list("id", flat=True))
            shape_known = len(projection._FILTER_SQL)
            try:
                where = projection.filter_where(rtype.model, q, connection)
            except EmptyResultSet:
                assert expected == set(), (spec.name, chosen)
                continue
            if where is None:  # through another table: the ORM path answers
                continue
            reused += len(projection._FILTER_SQL) == shape_known
            assert _selected(rtype.model, where) == expected, (type_key, spec.name, chosen, where)
            checked += 1
    assert checked or not [f for f in rtype.filters if f.kind != "date_range"]
    assert reused or not checked


def test_a_shape_compiled_for_two_values_is_reused_for_two_others(users):
    from django.db.models import Q

    model = registry.get("people").model
    made = {
        stage: write("people", {"first_name": f"P{n}", "lifecycle_stage": stage}, actor=users["member"]).pk
        for n, stage in enumerate(["lead", "customer", "mql", "sql"])
    }
    sql1, params1 = projection.filter_where(model, Q(lifecycle_stage__in=["lead", "customer"]), connection)
    assert params1 == ["lead", "customer"]
    assert _selected(model, (sql1, params1)) == {made["lead"], made["customer"]}
    sql2, params2 = projection.filter_where(model, Q(lifecycle_stage__in=["mql", "sql"]), connection)
    assert sql2 == sql1 and params2 == ["mql", "sql"]  # the same statement, this request's values
    assert _selected(model, (sql2, params2)) == {made["mql"], made["sql"]}
    # isnull's True and False are two shapes (IS NULL, IS NOT NULL), never one statement
    null, _ = projection.filter_where(model, Q(company__isnull=True), connection)
    not_null, _ = projection.filter_where(model, Q(company__isnull=False), connection)
    assert "IS NULL" in null and "IS NOT NULL" in not_null
    # a filter through another table is left to the ORM; an expression is compiled every time
    assert projection.filter_where(model, Q(company__name="Acme"), connection) is None
    from django.db.models import Exists, OuterRef

    from rapport.contacts.models import Company

    has_company = Q(Exists(Company.objects.filter(pk=OuterRef("company_id"))))
    where = projection.filter_where(model, has_company, connection)
    assert where is not None
    assert _selected(model, where) == set(model.objects.filter(has_company).values_list("id", flat=True))
