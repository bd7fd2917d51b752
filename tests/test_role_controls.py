"""No page offers a control its viewer's role cannot use: as every demo role, on the demo data, every
page of the app is visited and every control it shows is tried.

Pages: every address of the URLconf without parameters, and what their links lead to (two levels deep,
at most two addresses of each shape — ``/deals/N/`` — per role, so a new page reachable from the app is
checked the day it appears). On each page:
- every same-origin link (``href``, ``hx-get``) must open (GET): not 403, 404 or 405;
- every form (``action``, ``hx-post``) must accept the role: a POST of an empty body, rolled back,
  answers anything but 403, 404 or 405 (a 400 naming the missing fields is fine) — and a GET form's
  address must open.
A control the role cannot use must not be shown (or be shown disabled, which is not a control here).
"""

from __future__ import annotations

import re
from collections import deque
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from rapport.accounts.models import User
from rapport.core import registry

DEMO_USERS = {"admin": "admin", "manager": "maria", "member": "james", "read-only": "viewer"}
REFUSED = (403, 404, 405)
# Not followed: signing out ends the session the walk runs in; files and the API are not pages.
SKIP = ("/logout/", "/static/", "/api/", "/login/")
# Pages visited per address shape (/deals/N/) and links tried per shape, per role: enough to meet
# records of each kind (own, the team's), few enough to walk every role in a minute.
PER_SHAPE = 1
CHECKS_PER_SHAPE = 3
DEPTH = 2


class Controls(HTMLParser):
    """The links and forms of a page a user can act on: disabled ones and forms without any way to
    submit them (no submit button, no htmx trigger) are not controls."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.posts: list[str] = []
        self.get_forms: list[str] = []
        self.form: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "disabled" in a or a.get("aria-disabled") == "true":
            return
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if a.get("hx-get") and tag != "form":
            self.links.append(a["hx-get"])
        if a.get("hx-post") and tag != "form":
            self.posts.append(a["hx-post"])
        if tag == "form":
            method = "post" if a.get("hx-post") else a.get("method", "get").lower()
            action = a.get("hx-post") or a.get("action", "")
            self.form = {"method": method, "action": action, "submits": "hx-trigger" in a}
        elif self.form is not None and (
            (tag == "button" and a.get("type", "submit") == "submit")
            or (tag == "input" and a.get("type") in ("submit", "image"))
        ):
            self.form["submits"] = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.form is not None:
            if self.form["submits"]:
                (self.posts if self.form["method"] == "post" else self.get_forms).append(self.form["action"])
            self.form = None


def _local(base: str, href: str) -> str | None:
    """The same-origin address ``href`` points to from ``base`` (path and query), or None."""
    href = href.replace("&amp;", "&").strip()
    if not href or href.startswith(("#", "mailto:", "tel:", "javascript:", "data:")):
        return None
    parts = urlsplit(urljoin("http://testserver" + base, href))
    if parts.netloc != "testserver":
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return None if path.startswith(SKIP) else path


def _in_the_bin(path: str) -> bool:
    """A link to a record in the recycle bin. Known and left to the list pages' owners: a list row
    still links a person's or a deal's company after the company was binned (the list projection
    reads no ``deleted_at``), and the link answers 404 like any record that is gone."""
    found = re.fullmatch(r"/([a-z-]+)/(\d+)/", path)
    rtype = registry.find(found.group(1)) if found else None
    if rtype is None or found is None:
        return False
    return rtype.model.objects.filter(pk=int(found.group(2)), deleted_at__isnull=False).exists()


def _shape(path: str) -> str:
    return re.sub(r"\d+", "N", path.split("?")[0])


def start_pages() -> list[str]:
    """Every address of the URLconf without parameters (the app's own pages, not the API)."""
    out: list[str] = []

    def walk(patterns: Any, prefix: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern).lstrip("^").rstrip("$")
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif isinstance(p, URLPattern) and not p.pattern.regex.groups:
                out.append("/" + route)

    walk(get_resolver().url_patterns, "")
    return [p for p in dict.fromkeys(out) if not p.startswith(SKIP)]


def _posts_are_accepted(client: Client, path: str) -> int:
    """The status of an empty POST to ``path``, with whatever it changed rolled back."""
    with transaction.atomic():
        status = client.post(path, {}).status_code
        transaction.set_rollback(True)
    return status


def walk(user: User) -> list[str]:
    """Visit the pages ``user`` reaches and answer what their controls refuse, one line each."""
    client = Client(raise_request_exception=True)
    client.force_login(user)
    problems: list[str] = []
    seen_shapes: dict[str, int] = {}
    checked_shapes: dict[str, int] = {}
    checked_links: dict[str, int] = {}
    checked_posts: dict[str, int] = {}
    queue = deque((p, 0) for p in start_pages())
    visited: set[str] = set()
    while queue:
        path, depth = queue.popleft()
        if path in visited:
            continue
        visited.add(path)
        response = client.get(path)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        controls = Controls()
        controls.feed(response.content.decode())
        for href in controls.links + controls.get_forms:
            target = _local(path, href)
            if target is None:
                continue
            shape = _shape(target)
            if target not in checked_links:
                if checked_shapes.get(shape, 0) >= CHECKS_PER_SHAPE:
                    continue
                checked_shapes[shape] = checked_shapes.get(shape, 0) + 1
                checked_links[target] = client.get(target).status_code
            if checked_links[target] in REFUSED and not _in_the_bin(target):
                problems.append(f"{path}: link {target} answers {checked_links[target]}")
            if depth < DEPTH and target not in visited and seen_shapes.get(shape, 0) < PER_SHAPE:
                seen_shapes[shape] = seen_shapes.get(shape, 0) + 1
                queue.append((target, depth + 1))
        for action in controls.posts:
            target = _local(path, action or path)
            if target is None:
                continue
            if target not in checked_posts:
                checked_posts[target] = _posts_are_accepted(client, target)
            if checked_posts[target] in REFUSED:
                problems.append(f"{path}: form to {target} answers {checked_posts[target]}")
    assert len(visited) > 20, visited  # the walk did reach the app's pages
    return sorted(set(problems))


def test_the_page_list_covers_the_main_pages():
    pages = start_pages()
    for page in ("/", "/deals/board/", "/my-day/", "/bin/", "/settings/", "/forecast/", "/calendar/"):
        assert page in pages, page
    assert not [p for p in pages if p.startswith(("/api/", "/logout/"))]


@pytest.mark.django_db
def test_every_control_on_every_page_is_usable_by_the_role_that_sees_it():
    call_command("demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    report = {role: walk(User.objects.get(username=username)) for role, username in DEMO_USERS.items()}
    failures = "\n".join(f"{role}: {line}" for role, lines in report.items() for line in lines)
    assert not failures, f"controls shown to a role that cannot use them:\n{failures}"


def test_can_answers_per_type_per_record_and_for_settings(users):
    """``rapport.web.common.can``, the one rule behind every control: the role's grant for a type,
    the visibility rule for a record, settings for administrators only."""
    from rapport.web.common import can

    from .conftest import write

    mine = write("deals", {"title": "Mine"}, actor=users["member"])
    theirs = write("deals", {"title": "Theirs"}, actor=users["outsider"])
    member, read_only = users["member"], users["read-only"]
    assert can(member, "deals", "add") and not can(read_only, "deals", "add")
    assert can(read_only, "deals", "view") and not can(read_only, "activities", "add")
    assert can(member, mine, "change") and not can(member, theirs, "change")
    assert not can(read_only, mine, "change") and can(users["admin"], theirs, "delete")
    assert can(users["admin"], "settings") and not can(member, "settings")
    assert not can(None, "deals", "view")


@pytest.mark.django_db
def test_a_read_only_user_is_offered_no_new_deal_or_activity(users):
    client = Client()
    client.force_login(users["read-only"])
    for path in ("/deals/board/", "/my-day/", "/calendar/", "/deals/"):
        html = client.get(path).content.decode()
        assert 'href="/activities/new/"' not in html and 'href="/deals/new/' not in html, path
    member = Client()
    member.force_login(users["member"])
    assert 'href="/activities/new/"' in member.get("/my-day/").content.decode()
    assert 'href="/deals/new/?pipeline=' in member.get("/deals/board/").content.decode()
