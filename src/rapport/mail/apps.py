from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "rapport.mail"
    label = "mail"
    verbose_name = "Mail"

    def ready(self) -> None:
        # Registers the mailbox sync with the scheduler and mail as a source of the record timelines.
        from . import tasks, timeline  # noqa: F401
