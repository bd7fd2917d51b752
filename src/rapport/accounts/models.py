"""Users, teams, roles (per-type actions with a scope), personal API tokens, login failures."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils import timezone

from rapport.core import formatting

ACTIONS = ("view", "add", "change", "delete", "export", "import")
SCOPES = (("own", "Own records"), ("team", "Own team's records"), ("all", "All records"))
SCOPE_RANK = {"own": 1, "team": 2, "all": 3}


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def default_grants(scope: str | None, actions: tuple[str, ...] = ACTIONS) -> dict[str, Any]:
    return {"*": {action: scope for action in actions}} if scope else {"*": {}}


class Role(models.Model):
    """What a user may do, per record type and action, with a scope.

    ``grants`` maps a record type key (or ``"*"`` for every type) to ``{action: scope}``; an
    action missing from the map is not allowed.
    """

    key = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    grants = models.JSONField(default=dict)
    manage_settings = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    def scope_for(self, type_key: str, action: str) -> str | None:
        per_type = self.grants.get(type_key)
        if per_type is not None and action in per_type:
            return per_type[action] or None
        return (self.grants.get("*") or {}).get(action) or None


class User(AbstractUser):
    email = models.EmailField(blank=True)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    role = models.ForeignKey(Role, null=True, blank=True, on_delete=models.PROTECT, related_name="users")
    time_zone = models.CharField(max_length=64, default="UTC")
    # How numbers, money and dates read for this user (core.formatting); new users get RAPPORT_LOCALE.
    locale = models.CharField(max_length=10, choices=formatting.LOCALES, default=formatting.default_locale)

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta:
        ordering = ["first_name", "last_name", "username"]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @property
    def initials(self) -> str:
        parts = [p for p in (self.first_name, self.last_name) if p]
        return "".join(p[0] for p in parts).upper() or self.username[:2].upper()

    def scope_for(self, type_key: str, action: str) -> str | None:
        if not self.is_active:
            return None
        if self.is_superuser:
            return "all"
        if self.role is None:
            return None
        return self.role.scope_for(type_key, action)

    def can_manage_settings(self) -> bool:
        return self.is_active and (self.is_superuser or bool(self.role and self.role.manage_settings))


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A personal API token; only its SHA-256 is stored, the raw value is shown once."""

    SCOPE_READ = "read"
    SCOPE_WRITE = "read-write"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=12, choices=[(SCOPE_READ, "Read"), (SCOPE_WRITE, "Read and write")])
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @classmethod
    def issue(cls, user: User, *, name: str, scope: str, expires_at: Any = None) -> tuple[ApiToken, str]:
        raw = "rap_" + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, scope=scope, expires_at=expires_at, prefix=raw[:12], digest=hash_token(raw)
        )
        return token, raw

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class LoginFailure(models.Model):
    """One failed sign-in; counted per address, per account and address, per account, and per account
    and device (a browser the account signed in on before) inside a sliding window."""

    username = models.CharField(max_length=150, db_index=True)
    address = models.CharField(max_length=64, db_index=True)
    device = models.CharField(max_length=32, blank=True, default="")
    at = models.DateTimeField(default=timezone.now, db_index=True)


class LoginGate(models.Model):
    """A row per throttle key, locked while a sign-in is checked, so parallel attempts queue."""

    key = models.CharField(max_length=200, primary_key=True)


class LoginRecord(models.Model):
    """One successful sign-in (the login page), for the adoption report; pruned after
    RAPPORT_LOGIN_KEEP_DAYS like the other logs."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["at", "user"], name="login_record_at_idx"),
            models.Index(fields=["user", "at"], name="login_record_user_idx"),
        ]
