import importlib

from django.apps import AppConfig, apps


class SequencesConfig(AppConfig):
    name = "rapport.sequences"
    label = "sequences"
    verbose_name = "Sequences"

    def ready(self) -> None:
        from rapport.jobs.events import register_consumer

        from . import records, services, tasks  # noqa: F401

        register_consumer(services.on_activity_event)
        # mail.services.RECEIVED_BATCH_HOOKS (docs/email.md): a reply or a bounce stops the enrolments it answers.
        if apps.is_installed("rapport.mail"):
            try:
                mail_services = importlib.import_module("rapport.mail.services")
            except ImportError:
                return
            hooks = getattr(mail_services, "RECEIVED_BATCH_HOOKS", None)
            if hooks is not None and services.on_messages_received not in hooks:
                hooks.append(services.on_messages_received)
