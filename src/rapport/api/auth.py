"""Personal API tokens: ``Authorization: Bearer rap_…``; stored hashed, scoped, expiring, revocable."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import JSONField
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from rapport.accounts.models import ApiToken, Role, User, hash_token


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0] not in ("Bearer", "Token"):
            raise exceptions.AuthenticationFailed("Send the token as 'Authorization: Bearer <token>'.")
        found = _lookup(hash_token(parts[1]))
        if found is None:
            raise exceptions.AuthenticationFailed("This token is unknown, expired or revoked.")
        token, user = found
        if not token.is_usable:
            raise exceptions.AuthenticationFailed("This token is unknown, expired or revoked.")
        if not user.is_active:
            raise exceptions.AuthenticationFailed("This token's user is deactivated.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 300:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def _fields(model: Any) -> Any:
    return model._meta.concrete_fields


def _lookup(digest: str) -> tuple[ApiToken, Any] | None:
    """Token, user and role in one statement built once: this runs on every API request, and
    compiling the equivalent ORM query cost more than running it."""
    token_fields, user_fields, role_fields = _fields(ApiToken), _fields(User), _fields(Role)
    sql = _LOOKUP_SQL.get(connection.vendor)
    if sql is None:
        qn = connection.ops.quote_name
        cols = (
            [f"t.{qn(f.column)}" for f in token_fields]
            + [f"u.{qn(f.column)}" for f in user_fields]
            + [f"r.{qn(f.column)}" for f in role_fields]
        )
        sql = _LOOKUP_SQL[connection.vendor] = (
            f"SELECT {', '.join(cols)} FROM {qn(ApiToken._meta.db_table)} t "  # noqa: S608
            f"JOIN {qn(User._meta.db_table)} u ON u.{qn('id')} = t.{qn('user_id')} "
            f"LEFT JOIN {qn(Role._meta.db_table)} r ON r.{qn('id')} = u.{qn('role_id')} "
            f"WHERE t.{qn('digest')} = %s"
        )
    with connection.cursor() as cur:
        cur.execute(sql, [digest])
        row = cur.fetchone()
    if row is None:
        return None
    n_token, n_user = len(token_fields), len(user_fields)
    token = _from_db(ApiToken, token_fields, row[:n_token])
    user = _from_db(User, user_fields, row[n_token : n_token + n_user])
    role_values = row[n_token + n_user :]
    # The related objects as Django caches them after `user.role = role` (role_id and user_id already match).
    user._state.fields_cache["role"] = _from_db(Role, role_fields, role_values) if role_values[0] is not None else None
    token._state.fields_cache["user"] = user
    return token, user


def _from_db(model: Any, fields: Any, raw: tuple[Any, ...]) -> Any:
    """An instance of ``model`` from its columns as the driver returned them, as ``Model.from_db`` makes it.

    The row is read on every request (so a revoked or expired token, a deactivated user or a changed role
    count at once); converting the same columns again (datetimes parsed from text on SQLite) is not done
    twice: the converted values of a row already seen are reused, except those a view could change in
    place (JSON: a role's grants), converted afresh each time."""
    key = (connection.vendor, model)
    plan = _CONVERTERS.get(key)
    if plan is None:
        plan = _CONVERTERS[key] = _plan(model, fields)
    steps, attnames, direct = plan
    try:
        converted = _CONVERTED.get((key, raw))
    except TypeError:  # a value the driver returned is not hashable (a decoded JSON document)
        converted = None
    if converted is None:
        values = list(raw)
        for index, expr, funcs, _ in steps:
            values[index] = _convert(raw[index], expr, funcs)
        if len(_CONVERTED) >= _CONVERTED_MAX:
            _CONVERTED.clear()
        try:
            _CONVERTED[(key, raw)] = tuple(values)
        except TypeError:
            pass
    else:
        values = list(converted)
        for index, expr, funcs, mutable in steps:
            if mutable:
                values[index] = _convert(raw[index], expr, funcs)
    if not direct or pre_init.has_listeners(model) or post_init.has_listeners(model):
        return model.from_db(connection.alias, attnames, values)
    # What Model.from_db leaves, without Model.__init__'s per-field loop and signals (none listened to): every
    # concrete field's value under its attname, and a state saying the row came from this database.
    obj = model.__new__(model)
    obj.__dict__.update(zip(attnames, values, strict=True))
    state = obj._state = ModelState()
    state.adding = False
    state.db = connection.alias
    return obj


def _convert(value: Any, expr: Any, funcs: list[Any]) -> Any:
    for func in funcs:
        value = func(value, expr, connection)
    return value


def _plan(model: Any, fields: Any) -> tuple[list[tuple[int, Any, list[Any], bool]], list[str], bool]:
    # Only the columns whose value the driver returns in another form (on SQLite: datetimes, booleans, JSON)
    # are converted; the others go to the model as read.
    steps = []
    for index, field in enumerate(fields):
        expr = field.get_col(model._meta.db_table)
        funcs = connection.ops.get_db_converters(expr) + expr.get_db_converters(connection)
        if funcs:
            steps.append((index, expr, funcs, isinstance(field, JSONField)))
    # A field whose class attribute intercepts assignment (a file field's descriptor) needs Model.__init__;
    # a foreign key's id only forgets a cached related object on assignment, and a new instance has none.
    direct = not any(
        hasattr(type(attr), "__set__") and not isinstance(attr, ForeignKeyDeferredAttribute)
        for attr in (getattr(model, f.attname, None) for f in fields)
    )
    return steps, [f.attname for f in fields], direct


_CONVERTERS: dict[tuple[str, Any], tuple[list[tuple[int, Any, list[Any], bool]], list[str], bool]] = {}
# Converted rows by (database, model, row as read): a few per token in use, emptied when it holds this many.
_CONVERTED: dict[tuple[Any, tuple[Any, ...]], tuple[Any, ...]] = {}
_CONVERTED_MAX = 1024


_LOOKUP_SQL: dict[str, str] = {}


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "rapport.api.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A personal API token (rap_…)."}
