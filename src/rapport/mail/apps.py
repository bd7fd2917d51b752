from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "rapport.mail"
    label = "mail"
    verbose_name = "Mail"

    def ready(self) -> None:
        # Registers the mailbox sync with the scheduler.
        from . import tasks  # noqa: F401
