"""Demo companies and people (``rapport demo``): a small realistic set through the write path, and
``--people N --companies M``: a large synthetic set loaded in bulk for benchmarks."""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from rapport.accounts.demo import TEAMS
from rapport.accounts.models import Role, Team, User
from rapport.core import bulk, services
from rapport.core.demo import DemoContext, clock, write
from rapport.core.models import CustomField

from .models import Company, Person

FIRST_NAMES = (
    "Ada Alan Alice Amara Ana Andrei Anika Arjun Astrid Ben Bianca Carla Chen Chloe Daniel Dario Diego Elena Elif Emma "
    "Eric Fatima Felix Fiona Gabriel Grace Hana Hugo Ines Isaac Ivan Jamal Jana Javier Jonas Julia Kai Kenji Lars "
    "Laura Leila Liam Lina Lucas Maya Mei Mateo Mia Mohammed Nadia Nina Noah Olga Omar Oscar Paula Pedro Priya Rafael "
    "Rosa Ruth Sam Sara Sofia Stefan Tariq Tom Uma Valentina Victor Wei Yara Yusuf Zoe"
).split()
LAST_NAMES = (
    "Adams Ahmed Alvarez Andersen Bauer Becker Bianchi Brown Castro Chen Costa Dubois Eriksson Fischer Garcia Gomez "
    "Green Hansen Hoffmann Ibrahim Ito Jansen Johnson Kaur Khan Kim Kowalski Larsen Lee Lopez Martin Meyer Moreau "
    "Muller Murphy Nakamura Nguyen Novak Okafor Olsen Patel Perez Petrov Rossi Sato Schmidt Silva Singh Smith Sousa "
    "Tanaka Taylor Thompson Wagner Walker Wang Weber Williams Wilson Yamamoto Zhang"
).split()
COMPANY_PARTS_A = (
    "North Blue Bright Silver Green Iron Red Clear Swift Stone Sun Oak Cedar Pine Nova Arc Terra Vista".split()
)
COMPANY_PARTS_B = "wave field point bridge line path forge works gate stream peak light craft leaf core dale".split()
COMPANY_KINDS = (
    "Systems Labs Logistics Analytics Foods Health Energy Robotics Media Capital Software Partners Retail Studio "
    "Consulting Manufacturing"
).split()
INDUSTRIES = (
    "Software",
    "Logistics",
    "Healthcare",
    "Retail",
    "Manufacturing",
    "Financial services",
    "Energy",
    "Media",
    "Education",
    "Hospitality",
)
CITIES = (
    ("New York", "United States", "+1212"),
    ("San Francisco", "United States", "+1415"),
    ("Boston", "United States", "+1617"),
    ("Chicago", "United States", "+1312"),
    ("Austin", "United States", "+1512"),
    ("Seattle", "United States", "+1206"),
    ("Denver", "United States", "+1303"),
    ("Atlanta", "United States", "+1404"),
)
JOB_TITLES = (
    "CEO",
    "CTO",
    "Head of Sales",
    "Account Executive",
    "Marketing Manager",
    "Product Manager",
    "Software Engineer",
    "Operations Director",
    "Procurement Lead",
    "Customer Success Manager",
    "Finance Director",
    "Office Manager",
)
SOURCES = ("website", "referral", "event", "webinar", "cold outreach", "partner", "linkedin", "import")
TAGS = ("vip", "newsletter", "trial", "partner", "churn-risk", "enterprise", "smb", "event-2025")
STAGE_WEIGHTS = (
    ("subscriber", 10),
    ("lead", 35),
    ("mql", 15),
    ("sql", 10),
    ("opportunity", 10),
    ("customer", 15),
    ("evangelist", 3),
    ("other", 2),
)
LEAD_STATUSES = ("new", "open", "in_progress", "attempted", "connected", "bad_timing", "unqualified", "")
NOTES = (
    "Met at the spring trade fair; interested in the analytics add-on.",
    "Prefers email over calls. Budget review in Q3.",
    "Asked for a security questionnaire before the pilot.",
    "Introduced by a partner; follow up after the holidays.",
)


def add_arguments(parser: Any) -> None:
    parser.add_argument("--people", type=int, help="Load this many synthetic people in bulk.")
    parser.add_argument("--companies", type=int, help="Load this many synthetic companies in bulk.")
    parser.add_argument("--batch", type=int, default=5000, help="Rows per transaction in bulk mode.")


def load_bulk(command: BaseCommand, rng: random.Random, opts: dict[str, Any]) -> bool:
    if opts["people"] is None and opts["companies"] is None:
        return False
    people, companies = opts["people"] or 0, opts["companies"] or 0
    if people < 0 or companies < 0 or opts["batch"] < 1:
        raise CommandError("--people, --companies and --batch must be positive.")
    if people and not companies and not Company.objects.exists():
        raise CommandError("People need companies: give --companies too.")
    BulkLoader(command, rng, batch=opts["batch"]).run(people=people, companies=companies)
    return True


def load_demo(ctx: DemoContext) -> None:
    SmallDemo(ctx.rng, now=ctx.now).run(ctx)


# --- small realistic data, through the write path ------------------------------------------
def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


REGIONS = (("Americas", 65), ("EMEA", 25), ("APAC", 10))


class SmallDemo:
    """Companies came in over the past two years and their people after them; later edits and deletions
    happened in the last two months — each written at that moment (the demo clock)."""

    def __init__(self, rng: random.Random, now: dt.datetime | None = None):
        self.rng = rng
        self.now = now or timezone.now()
        self.when_rng = random.Random(rng.getrandbits(32))  # times only, drawn apart from the data

    def _ago(self, low: int, high: int) -> dt.datetime:
        """A moment between ``low`` and ``high`` days before now."""
        return self.now - dt.timedelta(days=self.when_rng.randint(low, high), minutes=self.when_rng.randint(0, 600))

    def run(self, ctx: DemoContext) -> None:
        with transaction.atomic():
            self._custom_fields()
        ctx.companies = self._companies(ctx.sellers)
        ctx.people = self._people(ctx.sellers, ctx.companies)
        self._changes(ctx.people, ctx.companies, ctx.sellers)

    def _custom_fields(self) -> None:
        specs = [
            ("people", "linkedin", "LinkedIn", "url", []),
            ("people", "budget", "Budget", "money", []),
            ("people", "newsletter", "Newsletter", "boolean", []),
            ("people", "region", "Region", "choice", ["Americas", "EMEA", "APAC"]),
            ("companies", "tier", "Tier", "choice", ["Gold", "Silver", "Bronze"]),
            ("companies", "renewal_date", "Renewal date", "date", []),
        ]
        for pos, (rtype, key, label, ftype, choices) in enumerate(specs):
            CustomField.objects.get_or_create(
                record_type=rtype,
                key=key,
                defaults={"label": label, "field_type": ftype, "choices": choices, "position": pos},
            )

    def _companies(self, sellers: list[User]) -> list[Company]:
        rng, seen = self.rng, set()
        out: list[Company] = []
        today = timezone.now().date()
        while len(out) < 60:
            name = f"{rng.choice(COMPANY_PARTS_A)}{rng.choice(COMPANY_PARTS_B)} {rng.choice(COMPANY_KINDS)}"
            if name in seen:
                continue
            seen.add(name)
            city, country, prefix = rng.choice(CITIES)
            domain = f"{_slug(name.split()[0])}.com"
            if any(c.domain == domain for c in out):
                domain = f"{_slug(name)}.com"
            owner = rng.choice(sellers)
            data: dict[str, Any] = {
                "name": name,
                "domain": domain,
                "website": f"https://www.{domain}",
                "industry": rng.choice(INDUSTRIES),
                "size_band": rng.choice(["1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000"]),
                "phone": f"{prefix}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}",
                "street": f"{rng.randint(1, 999)} {rng.choice(LAST_NAMES)} Street",
                "city": city,
                "country": country,
                "owner": owner.pk,
                "tags": rng.sample(["enterprise", "smb", "partner", "prospect"], rng.randint(0, 2)),
                "custom": {"tier": rng.choice(["Gold", "Silver", "Bronze"])},
            }
            if rng.random() < 0.5:
                data["custom"]["renewal_date"] = (today + dt.timedelta(days=rng.randint(10, 400))).isoformat()
            if out and rng.random() < 0.1:
                data["parent"] = rng.choice(out).pk
            with clock(self._ago(500, 730)):
                out.append(write("companies", data, actor=owner))
        return out

    def _people(self, sellers: list[User], companies: list[Company]) -> list[Person]:
        rng, out = self.rng, []
        used: set[str] = set()
        for n in range(400):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            company = rng.choice(companies)
            email = f"{first}.{last}@{company.domain}".lower()
            if email in used:
                email = f"{first}.{last}{n}@{company.domain}".lower()
            used.add(email)
            emails: list[Any] = [{"email": email, "primary": True}]
            if rng.random() < 0.15:
                emails.append(f"{first[0]}{last}{n}@gmail.com".lower())
            prefix = next(p for c, _, p in CITIES if c == company.city)
            phones = [{"number": f"{prefix}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}", "kind": "work"}]
            if rng.random() < 0.3:
                phones.append(
                    {"number": f"{prefix}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}", "kind": "mobile"}
                )
            owner = company.owner if company.owner and rng.random() < 0.8 else rng.choice(sellers)
            region = rng.choices([r for r, _ in REGIONS], [w for _, w in REGIONS])[0]
            custom: dict[str, Any] = {"region": region, "newsletter": rng.random() < 0.4}
            if rng.random() < 0.3:
                custom["budget"] = {"amount": str(rng.randint(5, 250) * 1000), "currency": "USD"}
            if rng.random() < 0.5:
                custom["linkedin"] = f"https://www.linkedin.com/in/{first}-{last}-{n}".lower()
            data = {
                "first_name": first,
                "last_name": last,
                "emails": emails,
                "phones": phones,
                "job_title": rng.choice(JOB_TITLES),
                "company": company.pk,
                "lifecycle_stage": rng.choices([s for s, _ in STAGE_WEIGHTS], [w for _, w in STAGE_WEIGHTS])[0],
                "lead_status": rng.choice(LEAD_STATUSES),
                "source": rng.choice(SOURCES),
                "owner": owner.pk,
                "tags": rng.sample(TAGS, rng.choice([0, 0, 1, 1, 2])),
                "custom": custom,
                "notes": rng.choice(NOTES) if rng.random() < 0.2 else "",
            }
            with clock(max(company.created_at, self._ago(400, 600))):
                out.append(write("people", data, actor=owner))
        return out

    def _changes(self, people: list[Person], companies: list[Company], sellers: list[User]) -> None:
        """Later edits, so timelines show history, and a few deletions for the recycle bin."""
        rng = self.rng
        order = ["subscriber", "lead", "mql", "sql", "opportunity", "customer"]
        for person in rng.sample(people, 60):
            person.refresh_from_db()
            actor = person.owner or sellers[0]
            stage = person.lifecycle_stage
            nxt = order[min(order.index(stage) + 1, len(order) - 1)] if stage in order else "lead"
            data: dict[str, Any] = {"lifecycle_stage": nxt, "lead_status": "connected"}
            if rng.random() < 0.3:
                data["job_title"] = rng.choice(JOB_TITLES)
            with clock(self._ago(1, 60)):
                write("people", data, actor=actor, instance=person)
        for company in rng.sample(companies, 8):
            company.refresh_from_db()
            with clock(self._ago(1, 60)):
                write(
                    "companies", {"size_band": "201-500", "tags": ["enterprise"]}, actor=company.owner, instance=company
                )
        for record in [*rng.sample(people, 3), rng.choice(companies)]:
            with clock(self._ago(1, 20)):
                services.delete_record(record, actor=None, source="system")


# --- large synthetic data, in bulk -----------------------------------------------------------
COMPANY_COLS = (
    "id owner_id team_id tags custom notes created_at updated_at created_by_id deleted_at version name domain "
    "website industry size_band phone street city region postal_code country parent_id"
).split()
PERSON_COLS = (
    "id owner_id team_id tags custom notes created_at updated_at created_by_id deleted_at version first_name "
    "last_name primary_email primary_phone job_title company_id lifecycle_stage lead_status source"
).split()
EMAIL_COLS = "id person_id email is_primary position live".split()
PHONE_COLS = "id person_id number kind is_primary position".split()
EVENT_COLS = (
    "id occurred_at type_key record_id record_title kind actor_id source request_id changes dispatched_at".split()
)
SEARCH_COLS = "id type_key record_id owner_id team_id title body identifiers".split()
SIZES = ("1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001+")
SPAN = 3 * 365 * 24 * 3600


def synthetic_phone(n: int, prefix: str) -> tuple[str, str]:
    """A US number unique per ``n`` below 8,000,000 and the search terms
    :func:`rapport.core.normalize.phone_search_terms` gives for it (E.164 digits, national)."""
    number = f"{prefix}{200 + (n // 10000) % 800}{n % 10000:04d}"
    digits = number[1:]
    return number, f"{digits} {digits[1:]}"


class BulkLoader:
    """Synthetic companies and people written with :mod:`rapport.core.bulk`, each with its
    emails, phones, a "created" event and a search entry (the same document as
    ``Record.search_document`` plus ``search.document_for`` produce)."""

    def __init__(self, command: BaseCommand, rng: random.Random, *, batch: int):
        self.out = command.stdout
        self.rng = rng
        self.batch = batch
        self.now = timezone.now()
        self.request_id = uuid.uuid4().hex

    def run(self, *, people: int, companies: int) -> None:
        started = time.monotonic()
        self.owners = self._owners()
        stages = [s for s, _ in STAGE_WEIGHTS]
        self.stage_cum = list(_cumulative([w for _, w in STAGE_WEIGHTS]))
        self.stages = stages
        self.total = people + companies
        self.done = 0
        with bulk.LoadSession():
            first_company = bulk.next_ids("contacts_company")
            if companies:
                self._load("companies", companies, self._company_rows(first_company, companies))
            pool = list(Company.objects.live().values_list("id", "name", "domain", "owner_id", "team_id"))
            if people:
                self._load("people", people, self._person_rows(people, pool))
            bulk.reset_sequences(
                [
                    "contacts_company",
                    "contacts_person",
                    "contacts_personemail",
                    "contacts_personphone",
                    "core_event",
                    "core_searchentry",
                ]
            )
            t = time.monotonic()
            bulk.analyze()
            self.out.write(f"analyze: {time.monotonic() - t:.1f}s")
        self.out.write(f"Loaded {companies:,} companies and {people:,} people in {time.monotonic() - started:.1f}s")

    def _owners(self) -> list[tuple[int, int | None]]:
        sellers: list[tuple[int, int | None]] = list(
            User.objects.filter(is_active=True, role__key__in=["manager", "member"], team__isnull=False).values_list(
                "id", "team_id"
            )
        )
        if sellers:
            return sellers
        teams = [Team.objects.get_or_create(name=name)[0] for name in TEAMS]
        member = Role.objects.get(key="member")
        for i in range(12):
            user = User(username=f"rep{i + 1}", first_name=FIRST_NAMES[i], last_name=LAST_NAMES[i], role=member)
            user.team = teams[i % len(teams)]
            user.set_unusable_password()
            user.save()
            sellers.append((user.pk, user.team_id))
        return sellers

    def _stamp(self) -> tuple[dt.datetime, dt.datetime]:
        created = self.now - dt.timedelta(seconds=self.rng.randrange(SPAN))
        updated = created + dt.timedelta(seconds=self.rng.randrange(int((self.now - created).total_seconds()) + 1))
        return created, updated

    def _ids(self) -> dict[str, int]:
        tables = ("contacts_personemail", "contacts_personphone", "core_event", "core_searchentry")
        return {t: bulk.next_ids(t) for t in tables}

    def _load(self, label: str, count: int, batches: Iterator[dict[str, tuple[list[str], list[Any]]]]) -> None:
        started = time.monotonic()
        written = 0
        for tables in batches:
            bulk.write_batch(tables)
            main = next(iter(tables.values()))[1]
            written += len(main)
            self.done += len(main)
            elapsed = time.monotonic() - started
            self.out.write(
                f"{label}: {written:,}/{count:,} ({100 * self.done / self.total:.0f}% overall), {elapsed:.1f}s, "
                f"{written / max(elapsed, 1e-6):,.0f} rows/s"
            )
            self.out.flush()

    def _company_rows(self, first_id: int, count: int) -> Iterator[dict[str, tuple[list[str], list[Any]]]]:
        rng, v = self.rng, bulk.sql_value
        ids = self._ids()
        event_id, search_id = ids["core_event"], ids["core_searchentry"]
        pid = first_id
        while pid < first_id + count:
            end = min(pid + self.batch, first_id + count)
            companies, events, entries = [], [], []
            for cid in range(pid, end):
                a, b, kind = rng.choice(COMPANY_PARTS_A), rng.choice(COMPANY_PARTS_B), rng.choice(COMPANY_KINDS)
                name = f"{a}{b} {kind}"
                domain = f"{a}{b}{cid}.com".lower()
                city, country, prefix = rng.choice(CITIES)
                phone, phone_terms = synthetic_phone(cid, prefix)
                owner_id, team_id = rng.choice(self.owners)
                industry, size = rng.choice(INDUSTRIES), rng.choice(SIZES)
                tags = rng.sample(TAGS[:6], rng.choice((0, 0, 1)))
                created, updated = self._stamp()
                website = f"https://www.{domain}"
                companies.append(
                    (cid, owner_id, team_id, v(tags), "{}", "", v(created), v(updated), None, None, 1, name, domain,
                     website, industry, size, phone, "", city, "", "", country, None)
                )  # fmt: skip
                changes = {"owner": [None, owner_id], "tags": [None, tags], "name": [None, name]}
                changes |= {"domain": [None, domain], "website": [None, website], "industry": [None, industry]}
                changes |= {"size_band": [None, size], "phone": [None, phone], "city": [None, city]}
                changes |= {"country": [None, country]}
                if not tags:
                    del changes["tags"]
                events.append(self._event(event_id, created, "companies", cid, name, changes))
                entries.append(
                    (search_id, "companies", cid, owner_id, team_id, name, f"{industry} {city} {country}",
                     f"{domain} {phone_terms}")
                )  # fmt: skip
                event_id += 1
                search_id += 1
            yield {
                "contacts_company": (COMPANY_COLS, companies),
                "core_event": (EVENT_COLS, events),
                "core_searchentry": (SEARCH_COLS, entries),
            }
            pid = end

    def _event(self, eid: int, at: dt.datetime, type_key: str, rid: int, title: str, changes: dict[str, Any]) -> tuple:
        v = bulk.sql_value
        return (
            eid,
            v(at),
            type_key,
            rid,
            title[:300],
            "created",
            None,
            "system",
            self.request_id,
            orjson.dumps(changes).decode(),
            # Synthetic history predates any automation or webhook: nothing to deliver.
            v(self.now),
        )

    def _person_rows(self, count: int, pool: list[tuple]) -> Iterator[dict[str, tuple[list[str], list[Any]]]]:
        if not pool:
            raise CommandError("People need at least one live company.")
        rng, v = self.rng, bulk.sql_value
        ids = self._ids()
        first_id = bulk.next_ids("contacts_person")
        email_id, phone_id = ids["contacts_personemail"], ids["contacts_personphone"]
        event_id, search_id = ids["core_event"], ids["core_searchentry"]
        pid = first_id
        while pid < first_id + count:
            end = min(pid + self.batch, first_id + count)
            people, emails, phones, events, entries = [], [], [], [], []
            for rid in range(pid, end):
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                company_id, company_name, domain, c_owner, c_team = rng.choice(pool)
                if c_owner and rng.random() < 0.7:
                    owner_id, team_id = c_owner, c_team
                else:
                    owner_id, team_id = rng.choice(self.owners)
                email = f"{first}.{last}.{rid}@{domain or 'example.com'}".lower()
                phone, phone_terms = synthetic_phone(rid, rng.choice(CITIES)[2])
                job = rng.choice(JOB_TITLES)
                stage = self.stages[_pick(self.stage_cum, rng.random())]
                status = rng.choice(LEAD_STATUSES)
                source = rng.choice(SOURCES)
                tags = rng.sample(TAGS, rng.choice((0, 0, 0, 1, 2)))
                created, updated = self._stamp()
                people.append(
                    (rid, owner_id, team_id, v(tags), "{}", "", v(created), v(updated), None, None, 1, first, last,
                     email, phone, job, company_id, stage, status, source)
                )  # fmt: skip
                emails.append((email_id, rid, email, v(True), 0, v(True)))
                phones.append((phone_id, rid, phone, "work", v(True), 0))
                title = f"{first} {last}"
                changes: dict[str, Any] = {"owner": [None, owner_id]}
                if tags:
                    changes["tags"] = [None, tags]
                changes |= {"first_name": [None, first], "last_name": [None, last], "job_title": [None, job]}
                changes |= {"company": [None, company_id], "lifecycle_stage": [None, stage]}
                if status:
                    changes["lead_status"] = [None, status]
                changes |= {"source": [None, source], "emails": [None, [email]], "phones": [None, [phone]]}
                events.append(self._event(event_id, created, "people", rid, title, changes))
                # The company's name is in the entry only within its team (visibility.search_label).
                shown = company_name if (team_id == c_team if team_id else owner_id == c_owner) else ""
                entries.append(
                    (search_id, "people", rid, owner_id, team_id, title, " ".join(x for x in (job, shown, email) if x),
                     f"{email} {phone_terms}")
                )  # fmt: skip
                email_id += 1
                phone_id += 1
                event_id += 1
                search_id += 1
            yield {
                "contacts_person": (PERSON_COLS, people),
                "contacts_personemail": (EMAIL_COLS, emails),
                "contacts_personphone": (PHONE_COLS, phones),
                "core_event": (EVENT_COLS, events),
                "core_searchentry": (SEARCH_COLS, entries),
            }
            pid = end


def _cumulative(weights: list[int]) -> Iterator[float]:
    total, acc = sum(weights), 0
    for w in weights:
        acc += w
        yield acc / total


def _pick(cumulative: list[float], x: float) -> int:
    for i, edge in enumerate(cumulative):
        if x < edge:
            return i
    return len(cumulative) - 1
