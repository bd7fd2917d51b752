"""Forms of the login page and the settings pages; errors always name the field."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, SetPasswordForm
from django.core.exceptions import ValidationError

from rapport.core import registry
from rapport.core.models import CustomField

from .models import ApiToken, Role, Team, User
from .throttle import attempt_login

TIME_ZONES = sorted(zoneinfo.available_timezones())
# The regions of the IANA database people live in; the rest (Etc/GMT+5, US/Eastern, EST5EDT…) are aliases.
ZONE_REGIONS = ("Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")


class LoginForm(AuthenticationForm):
    """Django's AuthenticationForm, with the password checked under the login throttle."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            attempt = attempt_login(self.request, username, password)
            if attempt.locked:
                raise ValidationError(attempt.locked_message, code="throttled")
            if attempt.user is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(attempt.user)
            self.user_cache = attempt.user
        return self.cleaned_data


def _time_zone_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Time zone", choices=[(tz, tz) for tz in TIME_ZONES], initial="UTC", help_text="Dates are shown in it."
    )


def _offset(name: str, now: dt.datetime) -> str:
    offset = now.astimezone(zoneinfo.ZoneInfo(name)).utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def time_zone_choices(current: str = "") -> list[Any]:
    """The time zones grouped by region, each with its offset today ("Berlin (UTC+01:00)"); the user's
    current zone stays offered even when it is an alias outside the regions."""
    now = dt.datetime.now(dt.UTC)
    groups: dict[str, list[tuple[str, str]]] = {}
    for name in TIME_ZONES:
        region, _, place = name.partition("/")
        if region in ZONE_REGIONS and place:
            label = place.replace("_", " ").replace("/", " / ")
            groups.setdefault(region, []).append((name, f"{label} ({_offset(name, now)})"))
    extra = [("UTC", "UTC")]
    if current and current != "UTC" and current in TIME_ZONES and current.partition("/")[0] not in ZONE_REGIONS:
        extra.append((current, f"{current} ({_offset(current, now)})"))
    return [("", extra), *groups.items()]


class ProfileForm(forms.ModelForm):
    """What every user sets for themselves: name, email, time zone and locale."""

    time_zone = forms.ChoiceField(label="Time zone", help_text="Dates and times are shown in it.")

    class Meta:
        model = User
        fields = ["first_name", "last_name", "email", "time_zone", "locale"]
        labels = {"locale": "Language and formats"}
        help_texts = {"locale": "How numbers, amounts and dates are written."}

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        tz_field: Any = self.fields["time_zone"]
        tz_field.choices = time_zone_choices(self.instance.time_zone)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip()


class PasswordChangeForm(SetPasswordForm):
    """The current password, then the new one twice, checked by the configured password validators."""

    old_password = forms.CharField(
        label="Current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    field_order = ["old_password", "new_password1", "new_password2"]

    def clean_old_password(self) -> str:
        old = self.cleaned_data["old_password"]
        if not self.user.check_password(old):
            raise ValidationError("This is not your current password.", code="password_incorrect")
        return old


class UserEditForm(forms.ModelForm):
    role = forms.ModelChoiceField(queryset=Role.objects.all(), empty_label=None)
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False, empty_label="No team")
    time_zone = _time_zone_field()

    class Meta:
        model = User
        fields = ["first_name", "last_name", "email", "role", "team", "time_zone"]


class UserCreateForm(UserEditForm):
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput(render_value=False), strip=False)
    password2 = forms.CharField(label="Password again", widget=forms.PasswordInput(render_value=False), strip=False)

    class Meta(UserEditForm.Meta):
        fields = ["username", "first_name", "last_name", "email", "role", "team", "time_zone"]

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError("A user with this username already exists.")
        return username

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords differ.")
        elif p1:
            probe = User(
                username=data.get("username") or "",
                email=data.get("email") or "",
                first_name=data.get("first_name") or "",
                last_name=data.get("last_name") or "",
            )
            try:
                password_validation.validate_password(p1, probe)
            except ValidationError as exc:
                self.add_error("password1", exc)
        return data


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name"]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the token is used, e.g. “Zapier”.")
    scope = forms.ChoiceField(choices=[(ApiToken.SCOPE_READ, "Read"), (ApiToken.SCOPE_WRITE, "Read and write")])
    days = forms.IntegerField(
        label="Expires after (days)",
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Leave empty for a token that never expires.",
    )


KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class CustomFieldForm(forms.ModelForm):
    choices_text = forms.CharField(
        label="Choices",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="One per line; for choice and multiple-choice fields.",
    )
    reference_type = forms.ChoiceField(
        label="Refers to", required=False, help_text="For reference fields: the record type it points to."
    )

    class Meta:
        model = CustomField
        fields = ["key", "label", "field_type", "required", "help_text", "position", "searchable", "is_identifier"]
        help_texts = {
            "key": "Lower-case letters, digits and underscores; used in the API as cf_<key>.",
            "is_identifier": "A customer number, tax or social security id…: records with the same value are "
            "likely duplicates.",
        }
        labels = {"is_identifier": "Identifier"}

    def __init__(self, *args: Any, type_key: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.type_key = type_key
        ref_field: Any = self.fields["reference_type"]
        ref_field.choices = [("", "—")] + [(t.key, t.label_plural) for t in registry.all_types()]
        if self.instance.pk:
            self.fields["key"].disabled = True
            self.fields["key"].help_text = "The key cannot change once the field exists."
            self.initial["choices_text"] = "\n".join(self.instance.choices or [])
            self.initial["reference_type"] = self.instance.reference_type

    def clean_key(self) -> str:
        key = self.cleaned_data["key"]
        if not KEY_RE.match(key):
            raise ValidationError("Use lower-case letters, digits and underscores, starting with a letter.")
        clash = CustomField.objects.filter(record_type=self.type_key, key=key).exclude(pk=self.instance.pk)
        if clash.exists():
            raise ValidationError(f"{self.type_key} already has a field with the key “{key}”.")
        return key

    def clean_field_type(self) -> str:
        new_type = self.cleaned_data["field_type"]
        old = self.instance
        if old.pk and old.field_type != new_type:
            model = registry.get(self.type_key).model
            if model.objects.filter(custom__has_key=old.key).exists():
                raise ValidationError(
                    f"Records already hold values for this field, so its type cannot change from "
                    f"{old.get_field_type_display()}; add a new field instead."
                )
        return new_type

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        field_type = data.get("field_type")
        lines = [line.strip() for line in (data.get("choices_text") or "").splitlines()]
        choices = list(dict.fromkeys(line for line in lines if line))
        if field_type in ("choice", "multi_choice"):
            if not choices:
                self.add_error("choices_text", "Give at least one choice, one per line.")
            elif any(len(c) > 100 for c in choices):
                self.add_error("choices_text", "Keep each choice to 100 characters.")
        else:
            choices = []
        data["choices"] = choices
        ref = data.get("reference_type") or ""
        if field_type == "reference":
            if not ref:
                self.add_error("reference_type", "Choose the record type this field refers to.")
        else:
            ref = ""
        data["reference_type"] = ref
        return data

    def save(self, commit: bool = True) -> CustomField:
        field = super().save(commit=False)
        field.record_type = self.type_key
        field.choices = self.cleaned_data["choices"]
        field.reference_type = self.cleaned_data["reference_type"]
        if commit:
            field.save()
        return field


class PasswordResetRequestForm(forms.Form):
    email = forms.EmailField(label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
