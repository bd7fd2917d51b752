"""The global search panel's content: hits grouped by type under headings, the matched words marked
(escaped part by part: a record's text never becomes markup), Markdown bodies as plain text, a link to
all results; the snippet helpers on their own."""

from __future__ import annotations

from django.test import Client

from rapport.web import snippets

from .conftest import write


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_plain_text_of_markdown():
    assert snippets.plain_text("**Budget** _approved_; see [the sheet](https://x.example/s).") == (
        "Budget approved; see the sheet."
    )
    assert snippets.plain_text("# Title\n\n- one\n- two\n\n<b>raw</b> &amp;") == "Title one two <b>raw</b> &"


def test_mark_and_snippet():
    words = snippets.terms("North an")
    assert words == ["north", "an"]
    assert snippets.mark("Anna from Northwind and Dan", words) == [
        ("An", True),
        ("na from ", False),
        ("North", True),
        ("wind ", False),
        ("an", True),
        ("d Dan", False),  # "Dan" does not start with "an"
    ]
    long = "word " * 40 + "the North region " + "more " * 40
    parts = snippets.snippet(long, ["north"])
    text = "".join(t for t, _ in parts)
    assert text.startswith("…") and text.endswith("…") and ("North", True) in parts
    assert len(text) <= snippets.SNIPPET_WIDTH + 2
    assert snippets.snippet("", ["x"]) == []


def test_live_panel_groups_marks_and_escapes(users, company):
    write("companies", {"name": "Northwind <script>alert(1)</script>"}, actor=users["member"])
    write(
        "activities",
        {"kind": "note", "subject": "Call notes", "body": "The **north** region <img src=x onerror=alert(1)>"},
        actor=users["member"],
    )
    write("people", {"first_name": "Nora", "last_name": "North", "company": company.pk}, actor=users["member"])
    page = client_for(users["member"]).get("/search/", {"q": "north", "live": "1"}).content.decode()
    assert 'role="listbox"' in page and page.count('role="option"') == 3
    assert '<div class="search-group-title" id="search-group-companies">Companies</div>' in page
    assert "<mark>North</mark>wind &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "The <mark>north</mark> region &lt;img src=x onerror=alert(1)&gt;" in page
    assert "**" not in page and "<script>alert" not in page and "<img" not in page
    assert 'href="/search/?q=north"' in page and "See all results" in page
    full = client_for(users["member"]).get("/search/", {"q": "north"}).content.decode()
    assert "<mark>North</mark>" in full and "**" not in full


def test_live_panel_shows_only_what_the_user_may_see(users):
    write("companies", {"name": "Northwind West"}, actor=users["outsider"])
    page = client_for(users["member"]).get("/search/", {"q": "northwind", "live": "1"}).content.decode()
    assert "Northwind West" not in page and "Nothing matches" in page
