"""Users, teams, roles, API tokens and login protection."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "rapport.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from .roles import ensure_default_roles

        post_migrate.connect(ensure_default_roles, sender=self, dispatch_uid="rapport.accounts.default_roles")
