"""State changes on users, teams, roles and API tokens: one function per action, each atomic."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from rapport.core import registry
from rapport.core.audit import record_setting_change, values
from rapport.core.services import sync_owner_team

from .models import ACTIONS, ApiToken, Role, Team, User

SCOPE_CHOICES = ("none", "own", "team", "all")
# What the audit trail shows of a user (never the password hash).
USER_FIELDS = ("username", "email", "first_name", "last_name", "role", "team", "time_zone", "is_active", "is_superuser")


def end_sessions(user: User, *, keep: str | None = None) -> int:
    """Delete every stored session of ``user`` (but the one whose key is ``keep``); returns how many ended."""
    uid = str(user.pk)
    doomed = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).exclude(pk=keep or "").iterator():
        if session.get_decoded().get("_auth_user_id") == uid:
            doomed.append(session.pk)
    Session.objects.filter(pk__in=doomed).delete()
    return len(doomed)


@transaction.atomic
def deactivate_user(user: User, *, actor: Any) -> User:
    """Stop ``user`` signing in: their sessions end now and their API tokens stop working."""
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
        record_setting_change(
            "user", user, actor=actor, before={"is_active": True}, after={"is_active": False}, label=user.username
        )
    end_sessions(user)
    return user


@transaction.atomic
def reactivate_user(user: User, *, actor: Any) -> User:
    if not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])
        record_setting_change(
            "user", user, actor=actor, before={"is_active": False}, after={"is_active": True}, label=user.username
        )
    return user


@transaction.atomic
def create_user(
    *,
    username: str,
    password: str | None,
    actor: Any,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    role: Role | None = None,
    team: Team | None = None,
    time_zone: str = "UTC",
    is_superuser: bool = False,
) -> User:
    user_model = get_user_model()
    user = user_model(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        role=role,
        team=team,
        time_zone=time_zone,
        is_superuser=is_superuser,
        is_staff=is_superuser,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    record_setting_change("user", user, actor=actor, action="created", after=values(user, USER_FIELDS), label=username)
    return user


@transaction.atomic
def create_team(*, name: str, actor: Any) -> Team:
    team = Team.objects.create(name=name)
    record_setting_change("team", team, actor=actor, action="created", after={"name": name})
    return team


@transaction.atomic
def rename_team(team: Team, *, name: str, actor: Any) -> Team:
    record_setting_change("team", team, actor=actor, before={"name": team.name}, after={"name": name}, label=name)
    team.name = name
    team.save(update_fields=["name"])
    return team


@transaction.atomic
def delete_team(team: Team, *, actor: Any) -> int:
    """Delete ``team``; its members (and the records they own) move to no team. Returns how
    many members moved."""
    members = list(User.objects.filter(team=team))
    User.objects.filter(team=team).update(team=None)
    for member in members:
        member.team_id = None
        sync_owner_team(member, actor=actor)
        record_setting_change(
            "user", member, actor=actor, before={"team": team.pk}, after={"team": None}, label=member.username
        )
    record_setting_change(
        "team",
        team,
        actor=actor,
        action="deleted",
        before={"name": team.name, "members": [m.username for m in members]},
    )
    team.delete()
    return len(members)


def grants_matrix(role: Role, type_keys: list[str]) -> dict[str, dict[str, str]]:
    """{type key: {action: scope or "none"}} as the role grants it today."""
    return {key: {action: role.scope_for(key, action) or "none" for action in ACTIONS} for key in type_keys}


@transaction.atomic
def set_role_grants(role: Role, matrix: dict[str, dict[str, str]], *, actor: Any) -> Role:
    """Store an explicit scope per type and action; "none" is stored as null so it overrides "*"."""
    grants: dict[str, Any] = {"*": dict(role.grants.get("*") or {})}
    for type_key, per_action in matrix.items():
        grants[type_key] = {
            action: (None if scope == "none" else scope) for action, scope in per_action.items() if action in ACTIONS
        }
    keys = registry.keys()
    before = _flat_grants(grants_matrix(role, keys))
    role.grants = grants
    role.save(update_fields=["grants"])
    record_setting_change("role", role, actor=actor, before=before, after=_flat_grants(grants_matrix(role, keys)))
    return role


def _flat_grants(matrix: dict[str, dict[str, str]]) -> dict[str, str]:
    """{"deals: view": "team", …}: what a role grants, one line per type and action, for the trail."""
    return {
        f"{type_key}: {action}": scope
        for type_key, per_action in matrix.items()
        for action, scope in per_action.items()
    }


@transaction.atomic
def issue_token(user: User, *, name: str, scope: str, days: int | None) -> tuple[ApiToken, str]:
    expires_at = timezone.now() + dt.timedelta(days=days) if days else None
    token, raw = ApiToken.issue(user, name=name, scope=scope, expires_at=expires_at)
    record_setting_change(
        "api_token",
        token,
        actor=user,
        action="created",
        after={"name": name, "scope": scope, "expires_at": values(token, ["expires_at"])["expires_at"]},
        label=f"{name} ({user.username})",
    )
    return token, raw


@transaction.atomic
def revoke_token(token: ApiToken, *, actor: Any) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_setting_change(
            "api_token",
            token,
            actor=actor,
            before={"revoked": False},
            after={"revoked": True},
            label=f"{token.name} ({token.user.username})",
        )
    return token


@transaction.atomic
def update_user(user: User, *, actor: Any, **fields: Any) -> User:
    old_team = user.team_id
    shown = [name for name in fields if name in USER_FIELDS]
    before = values(user, shown)
    for name, value in fields.items():
        setattr(user, name, value)
    user.save(update_fields=list(fields))
    changed = values(user, shown)
    if "password" in fields:
        before["password"], changed["password"] = "", "(changed)"
    record_setting_change("user", user, actor=actor, before=before, after=changed, label=user.username)
    if user.team_id != old_team:
        sync_owner_team(user, actor=actor)  # their records follow them to the new team
    return user


# --- one's own account -------------------------------------------------------------------------
PROFILE_FIELDS = ("first_name", "last_name", "email", "time_zone", "locale")


@transaction.atomic
def update_profile(user: User, *, actor: Any, **fields: Any) -> User:
    """The user's own name, email, time zone and locale (the fields an administrator sets elsewhere stay)."""
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    fields = {name: value for name, value in fields.items() if hasattr(user, name)}
    before = values(user, list(fields))
    for name, value in fields.items():
        setattr(user, name, value)
    user.save(update_fields=list(fields))
    record_setting_change(
        "user", user, actor=actor, before=before, after=values(user, list(fields)), label=user.username
    )
    return user


@transaction.atomic
def set_password(user: User, password: str, *, actor: Any, keep_session: str | None = None, how: str) -> int:
    """Give ``user`` a new password and end every other session of theirs (all of them unless
    ``keep_session`` names the one to keep); returns how many sessions ended. ``how`` says where it
    came from for the audit trail ("changed" by the user, "reset" by email)."""
    user.set_password(password)
    user.save(update_fields=["password"])
    record_setting_change(
        "user", user, actor=actor, before={"password": ""}, after={"password": f"({how})"}, label=user.username
    )
    return end_sessions(user, keep=keep_session)


def password_reset_users(email: str) -> list[User]:
    """The active accounts that use ``email`` and sign in with a password (Django's rule)."""
    return [
        user
        for user in User.objects.filter(email__iexact=email.strip(), is_active=True).order_by("pk")
        if user.has_usable_password()
    ]


def send_password_reset(user: User, *, site: str) -> str:
    """Queue the email with a link that lets ``user`` choose a new password: valid for
    PASSWORD_RESET_TIMEOUT seconds and only until the password changes (Django's
    PasswordResetTokenGenerator hashes the current password into it), so it works once. Sent from the
    outgoing-mail outbox by a job after commit; returns the link's path."""
    from django.conf import settings
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from rapport.activities.models import OutgoingEmail
    from rapport.activities.tasks import send_outbox

    token = default_token_generator.make_token(user)
    path = f"/password-reset/{urlsafe_base64_encode(force_bytes(user.pk))}/{token}/"
    minutes = settings.PASSWORD_RESET_TIMEOUT // 60
    valid = f"{minutes // 60} hour{'s' if minutes // 60 != 1 else ''}" if minutes % 60 == 0 else f"{minutes} minutes"
    body = (
        f"Hello {user.first_name or user.username},\n\n"
        f"Someone (hopefully you) asked to reset the password of your Rapport account “{user.username}”.\n"
        f"Choose a new password here within {valid}; the link works once:\n\n"
        f"{site.rstrip('/')}{path}\n\n"
        "If you did not ask for this, ignore this email: your password stays as it is.\n"
    )
    with transaction.atomic():
        OutgoingEmail.objects.get_or_create(
            key=f"password-reset:{user.pk}:{token}",
            defaults={"to": user.email, "subject": "Reset your Rapport password", "body": body},
        )
        transaction.on_commit(lambda: send_outbox.enqueue(), robust=True)
    return path


def record_login(user: Any) -> None:
    """A successful sign-in, for the adoption report (reports/standard_team.py)."""
    from .models import LoginRecord

    LoginRecord.objects.create(user=user)
