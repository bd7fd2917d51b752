"""``rapport createuser``: add a user from the command line, password from stdin or a prompt."""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from rapport.accounts import services
from rapport.accounts.models import Role, Team, User

ROLE_KEYS = ["admin", "manager", "member", "read-only"]


class Command(BaseCommand):
    help = "Create a user. The password is read from standard input (--password-stdin) or prompted for."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--role", choices=ROLE_KEYS, help="Default: member, or admin with --admin.")
        parser.add_argument("--team", help="Name of an existing team.")
        parser.add_argument("--admin", action="store_true", help="Make a superuser with the admin role.")
        parser.add_argument("--password-stdin", action="store_true", help="Read the password from standard input.")

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"].strip()
        if not username:
            raise CommandError("Give a username.")
        if User.objects.filter(username__iexact=username).exists():
            raise CommandError(f"A user named {username!r} already exists.")
        role_key = options["role"] or ("admin" if options["admin"] else "member")
        role = Role.objects.filter(key=role_key).first()
        if role is None:
            raise CommandError(f"Role {role_key!r} does not exist; run migrate first.")
        team = None
        if options["team"]:
            team = Team.objects.filter(name=options["team"]).first()
            if team is None:
                known = ", ".join(Team.objects.values_list("name", flat=True)) or "none yet"
                raise CommandError(f"There is no team {options['team']!r} (teams: {known}).")
        password = self._read_password(options["password_stdin"])
        probe = User(
            username=username, email=options["email"], first_name=options["first_name"], last_name=options["last_name"]
        )
        try:
            password_validation.validate_password(password, probe)
        except ValidationError as exc:
            raise CommandError("Password refused: " + " ".join(exc.messages))
        user = services.create_user(
            username=username,
            password=password,
            actor=None,
            email=options["email"],
            first_name=options["first_name"],
            last_name=options["last_name"],
            role=role,
            team=team,
            is_superuser=options["admin"],
        )
        parts = [f"role {role.key}"]
        if team:
            parts.append(f"team {team.name}")
        if user.is_superuser:
            parts.append("superuser")
        self.stdout.write(self.style.SUCCESS(f"Created user {user.username} ({', '.join(parts)})."))

    def _read_password(self, from_stdin: bool) -> str:
        if from_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("No password on standard input.")
            return password
        first = getpass.getpass("Password: ")
        second = getpass.getpass("Password (again): ")
        if first != second:
            raise CommandError("The two passwords differ.")
        if not first:
            raise CommandError("The password is empty.")
        return first
