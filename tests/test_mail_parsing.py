"""Reading raw mail (mail.parsing.parse): encoded and 8-bit headers, address comments, charsets (named, unknown),
attachment names (RFC 2231 and encoded words), and the stable id of a message without a Message-ID."""

from __future__ import annotations

import datetime as dt

from rapport.mail.parsing import parse

ENCODED = (
    b'From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <j@x.de>, "Smith, John" <js@x.com>\r\n'
    b"To: a@b.c,\r\n  (comment) d@e.f\r\n"
    b"Subject: =?iso-8859-1?q?Gr=FC=DFe?= aus\r\n Berlin\r\n"
    b"Date: Mon, 2 Nov 2026 09:00:00 +0100\r\nMessage-ID: <abc@x>\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xfc\xdfe\r\n"
)
RAW_8BIT = (
    b"From: \xc3\xa4nne <a@x.de>\r\nSubject: raw \xc3\xbc 8bit\r\nTo: b@y.z\r\n"
    b"Content-Type: text/plain; charset=x-unknown\r\n\r\nh\xc3\xa9llo\r\n"
)
NAMES = (
    b"From: a@x\r\nSubject: att\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n"
    b"--BB\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
    b"--BB\r\nContent-Type: application/pdf; name*=utf-8''R%C3%A9sum%C3%A9.pdf\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''R%C3%A9sum%C3%A9.pdf\r\nContent-ID: <img1@x>\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8=\r\n"
    b'--BB\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename="=?utf-8?b?w6TDtsO8LnBuZw==?="'
    b"\r\n\r\nxx\r\n--BB--\r\n"
)


def test_encoded_headers_address_comments_and_a_named_charset() -> None:
    parsed = parse(ENCODED)
    assert (parsed.message_id, parsed.subject) == ("abc@x", "Grüße aus Berlin")
    assert (parsed.from_address, parsed.from_name) == ("j@x.de", "Jürgen Müller")
    # A comment is not a name.
    assert parsed.to == [{"name": "", "address": "a@b.c"}, {"name": "", "address": "d@e.f"}]
    assert parsed.sent_at == dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
    assert parsed.body_text.strip() == "Grüße"


def test_raw_8bit_headers_and_an_unknown_charset_read_as_utf8() -> None:
    parsed = parse(RAW_8BIT)
    assert (parsed.subject, parsed.from_name, parsed.from_address) == ("raw ü 8bit", "änne", "a@x.de")
    assert parsed.body_text.strip() == "héllo"


def test_attachment_names_in_rfc2231_and_in_encoded_words() -> None:
    parsed = parse(NAMES)
    assert parsed.body_text == "body"
    assert [(a.filename, a.content_type, a.data, a.content_id) for a in parsed.attachments] == [
        ("Résumé.pdf", "application/pdf", b"Hello", "img1@x"),
        ("äöü.png", "image/png", b"xx", ""),
    ]


def test_a_message_without_message_id_keeps_the_id_earlier_versions_gave_it() -> None:
    # A digest of Date, From, To and Subject as the email package's default policy reads them: a resync after an
    # upgrade must find the message it stored before, not store it twice.
    broken = b"From: broken\r\nDate: not a date\r\nTo: <<<>>>\r\nSubject: \r\n\r\nx"
    assert parse(broken).message_id == "26d4db7ba67a0416ae1b287b7b13a02a@rapport.generated"
    assert parse(RAW_8BIT).message_id == "a552b1eba35af553113075a2658112ba@rapport.generated"
    assert parse(broken).sent_at is None
