from django.apps import AppConfig


class ActivitiesConfig(AppConfig):
    name = "rapport.activities"
    label = "activities"
    verbose_name = "Activities"

    def ready(self) -> None:
        from rapport.core import registry

        # Registers activities, and the reminder and digest jobs with the scheduler.
        from . import records, tasks  # noqa: F401

        # People, companies and deals show their timeline and the quick forms on their pages.
        for key in ("people", "companies", "deals"):
            rtype = registry.find(key)
            if rtype is not None and "activities/timeline_section.html" not in rtype.detail_sections:
                rtype.detail_sections.append("activities/timeline_section.html")
