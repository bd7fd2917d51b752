"""Read-side helpers: which outgoing messages a user sees."""

from __future__ import annotations

from typing import Any

from .models import OutgoingMessage


def visible_outgoing(user: Any) -> Any:
    """A sender sees their own messages; administrators see everyone's."""
    rows = OutgoingMessage.objects.select_related("sender")
    return rows if user.can_manage_settings() else rows.filter(sender=user)
