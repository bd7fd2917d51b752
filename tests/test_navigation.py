"""The main navigation: in the order of a working day, only links the user can use."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from rapport.accounts.models import Role

from .conftest import make_user

pytestmark = pytest.mark.django_db


def nav_labels(client: Client) -> list[str]:
    html = client.get("/people/").content.decode()
    nav = re.search(r'<nav class="nav" id="main-nav"[^>]*>(.*?)</nav>', html, re.S)
    assert nav is not None
    return [re.sub(r"<[^>]+>", "", label).strip() for label in re.findall(r"<a [^>]*>(.*?)</a>", nav.group(1), re.S)]


def test_an_administrator_sees_every_link_in_the_order_of_a_working_day() -> None:
    client = Client()
    client.force_login(make_user("ann", "admin"))
    assert nav_labels(client) == [
        "My day", "People", "Companies", "Deals", "Board", "Activities", "Calendar", "Mail", "Reports", "Forecast",
        "Quotes", "Products", "Invoices", "Sequences", "Recycle bin", "Settings",
    ]  # fmt: skip


def test_a_member_has_no_settings_link() -> None:
    client = Client()
    client.force_login(make_user("mel", "member"))
    labels = nav_labels(client)
    assert "Settings" not in labels
    assert labels[:4] == ["My day", "People", "Companies", "Deals"] and labels[-1] == "Recycle bin"


def test_a_role_without_deals_sees_neither_the_deals_nor_their_board_and_quotes() -> None:
    contacts_only = Role.objects.create(
        key="contacts", name="Contacts only", grants={"people": {"view": "all"}, "companies": {"view": "all"}}
    )
    user = make_user("cora", "member")
    user.role = contacts_only
    user.save()
    client = Client()
    client.force_login(user)
    labels = nav_labels(client)
    assert "People" in labels and "Companies" in labels
    assert not {"Deals", "Board", "Quotes", "Products", "Invoices", "Activities"} & set(labels)
