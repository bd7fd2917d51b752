"""The reference the people list is measured against (DESIGN.md §12): the same first page of
50 people with the same fields as /api/v1/people/, read with one raw SQL query and encoded with
orjson. No framework, no authentication: the floor for what a list endpoint can cost."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from django.db import connection
from django.http import HttpRequest, HttpResponse

from rapport.core.listing import encode_cursor

SQL = """
SELECT p.id, p.first_name, p.last_name, p.primary_email, p.primary_phone, p.job_title,
       p.company_id, c.name, p.lifecycle_stage, p.lead_status, p.source,
       p.owner_id, u.first_name, u.last_name, u.username, p.tags, p.created_at, p.updated_at, p.custom
FROM contacts_person p
LEFT JOIN contacts_company c ON c.id = p.company_id
LEFT JOIN accounts_user u ON u.id = p.owner_id
WHERE p.deleted_at IS NULL
ORDER BY p.created_at DESC, p.id DESC
LIMIT 51
"""


def _sqlite_time(value: dt.datetime) -> dt.datetime:
    # Django's SQLite converter returns naive UTC datetimes, as the ORM would before making them aware.
    return value.replace(tzinfo=dt.UTC)


def people_page(request: HttpRequest) -> HttpResponse:
    sqlite = connection.vendor == "sqlite"
    with connection.cursor() as cur:
        cur.execute(SQL)
        raw = cur.fetchall()
    rows: list[dict[str, Any]] = []
    for r in raw[:50]:
        owner = None
        if r[11] is not None:
            owner = {"id": r[11], "name": f"{r[12]} {r[13]}".strip() or r[14]}
        rows.append(
            {
                "id": r[0],
                "first_name": r[1],
                "last_name": r[2],
                "email": r[3],
                "phone": r[4],
                "job_title": r[5],
                "company": {"id": r[6], "name": r[7]} if r[6] is not None else None,
                "lifecycle_stage": r[8],
                "lead_status": r[9],
                "source": r[10],
                "owner": owner,
                "tags": orjson.Fragment(r[15]) if sqlite else r[15],
                "created_at": _sqlite_time(r[16]) if sqlite else r[16],
                "updated_at": _sqlite_time(r[17]) if sqlite else r[17],
                "custom": orjson.Fragment(r[18]) if sqlite else r[18],
                "url": f"/api/v1/people/{r[0]}/",
            }
        )
    next_link = None
    if len(raw) > 50:
        last = raw[49]
        created = _sqlite_time(last[16]) if sqlite else last[16]
        next_link = "/bench/reference/people/?cursor=" + encode_cursor(created, last[0])
    body = orjson.dumps({"results": rows, "next": next_link, "previous": None})
    return HttpResponse(body, content_type="application/json")
