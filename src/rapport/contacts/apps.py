from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "rapport.contacts"
    label = "contacts"
    verbose_name = "Contacts"

    def ready(self) -> None:
        from . import records  # noqa: F401  (registers companies and people)
