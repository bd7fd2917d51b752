"""Who may read which mail: the one rule every mail page, API endpoint and timeline uses.

A user sees a message when
- it is in a mailbox they own, or was logged for them through the dropbox (private or not);
- it is in a shared mailbox of their team (or of everyone: no team), unless its thread is private — a private
  thread of a shared mailbox stays visible to the user who marked it;
- its thread is not private and it is linked to a person or company they may view, or its thread is linked to
  a deal they may view (the record types' own rule, core.visibility).
Administrators are no exception: mail of someone else's mailbox that links to no record stays private.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce

from .models import Mailbox, Message, Thread


def _authenticated(user: Any) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", False)


def message_rule(user: Any) -> Q:
    from rapport.contacts.models import Company, Person
    from rapport.deals.models import Deal

    people = Message.people.through.objects.filter(
        message_id=OuterRef("pk"), person__in=Person.objects.visible_to(user).values("pk")
    )
    companies = Message.companies.through.objects.filter(
        message_id=OuterRef("pk"), company__in=Company.objects.visible_to(user).values("pk")
    )
    deals = Thread.deals.through.objects.filter(
        thread_id=OuterRef("thread_id"), deal__in=Deal.objects.visible_to(user).values("pk")
    )
    mine = Q(mailbox__owner=user) | Q(logged_for=user)
    shared = Q(mailbox__shared=True) & (Q(mailbox__team__isnull=True) | Q(mailbox__team_id=user.team_id))
    shared &= Q(thread__private=False) | Q(thread__private_by=user)
    linked = Q(thread__private=False) & Q(Exists(people) | Exists(companies) | Exists(deals))
    return mine | shared | linked


def sender() -> Coalesce:
    """Who sent a message, as a user id: whoever composed it in Rapport (even from a shared mailbox), else the
    user it was logged for through the dropbox, else the owner of the personal mailbox it was synced from;
    None for mail a shared mailbox sent from elsewhere. Meaningful for sent messages (direction "out")."""
    return Coalesce(F("outgoing__sender_id"), F("logged_for_id"), F("mailbox__owner_id"))


def sent_between(messages: QuerySet[Message], start: dt.datetime, end: dt.datetime) -> QuerySet[Any]:
    """The sent messages among ``messages`` whose sending time is in [start, end), each with its ``rep``."""
    return messages.filter(direction="out", sent_at__gte=start, sent_at__lt=end).annotate(rep=sender())


def visible_messages(user: Any) -> QuerySet[Message]:
    """The messages ``user`` may read."""
    if not _authenticated(user):
        return Message.objects.none()
    return Message.objects.filter(message_rule(user))


def visible_threads(user: Any) -> QuerySet[Thread]:
    """The threads holding at least one message ``user`` may read."""
    if not _authenticated(user):
        return Thread.objects.none()
    return Thread.objects.filter(Exists(visible_messages(user).filter(thread_id=OuterRef("pk"))))


def thread_messages(user: Any, thread: Thread) -> QuerySet[Message]:
    return visible_messages(user).filter(thread=thread).order_by("sent_at", "id")


def manageable_mailboxes(user: Any) -> QuerySet[Mailbox]:
    """The mailboxes ``user`` may see in Settings → Mailboxes and edit: their own, and every shared one
    (and every mailbox's health) for settings managers."""
    if not _authenticated(user):
        return Mailbox.objects.none()
    if user.can_manage_settings():
        return Mailbox.objects.filter(Q(owner=user) | Q(shared=True) | Q(is_dropbox=True))
    return Mailbox.objects.filter(owner=user, shared=False, is_dropbox=False)


def readable_mailboxes(user: Any) -> QuerySet[Mailbox]:
    """The mailboxes whose conversations ``user`` may browse on /mail/."""
    if not _authenticated(user):
        return Mailbox.objects.none()
    shared = Q(shared=True) & (Q(team__isnull=True) | Q(team_id=user.team_id))
    return Mailbox.objects.filter(Q(owner=user) | shared)
