"""Mail sync benchmark (not a test) against a real Dovecot on loopback (tests/mail_servers.py).

    .venv/bin/python bench/email_sync.py [--messages 5000] [--big 50000] [--mailboxes 100] [--db sqlite|postgres]

1. Initial sync of a mailbox of ``--messages`` mixed messages (70 % short text, 20 % HTML newsletters, 10 % with a
   100–400 KB attachment) by ``mail.sync.sync_mailbox``, against the reference measured in the same run: a bare
   ``imaplib`` session fetching the same messages' ``BODY.PEEK[]`` in batches of 200 and doing nothing with them.
   Target: Rapport's messages/s ≥ 0.5× the reference's.
2. Incremental sync: a mailbox of ``--big`` messages already synced (its rows written in bulk with the server's
   real UIDs and UIDVALIDITY), 10 new messages appended, one ``sync_mailbox`` timed. Target < 1 s.
3. One worker keeping ``--mailboxes`` mailboxes: each synced once, one new message in each, then one pass of
   ``sync_mailbox`` over all of them in one process. Target: the pass within 60 s.

SQLite in a fresh temporary data folder, or ``--db postgres``: a fresh database ``rapport_bench_mail`` on the
local server. Besides wall time, the process's CPU (``time.process_time()``: parsing, sanitising, Django and, on
SQLite, the database) per message, the part of it spent in the received hooks (sequences, bounces), and the load
average. The 50,000 small messages of step 2 are written once into ``--maildir`` (default
/work/wt/benchdata/mail/big-<N>) and copied into each run's Dovecot user (writing them takes minutes).
Prints a Markdown table and writes JSON into bench/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import imaplib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

DATA = tempfile.mkdtemp(prefix="rapport-bench-mail-")
os.environ.setdefault("RAPPORT_DATA_DIR", DATA)
os.environ["DJANGO_SETTINGS_MODULE"] = "rapport.settings.base"
os.environ.setdefault("RAPPORT_MAIL_ALLOW_PRIVATE", "127.0.0.0/8")  # Dovecot on loopback (mail.imap.refusal)
PG_DB = "rapport_bench_mail"

from bench.run import log, machine  # noqa: E402
from tests.mail_servers import make_message, start_dovecot  # noqa: E402

LOREM = (
    "Thanks for the call today. As discussed, here is the summary of the proposal, the next steps and the "
    "timeline we agreed on. Let me know if anything is missing. "
)


def mixed_message(n: int, rng: random.Random) -> bytes:
    kind = rng.random()
    sender = f"person{n % 400}@client{n % 37}.example"
    if kind < 0.7:
        return make_message(subject=f"Re: Proposal {n}", sender=sender, message_id=f"<bench{n}@x>",
                            body=LOREM * rng.randint(1, 12))  # fmt: skip
    if kind < 0.9:
        html = "<html><body>" + ("<p style='color: #333'>" + LOREM + "<a href='https://x.example/'>link</a></p>") * 60
        html += "<img src='https://tracker.example/p.gif'></body></html>"
        return make_message(subject=f"Newsletter {n}", sender=sender, message_id=f"<bench{n}@x>", body=LOREM, html=html)
    size = rng.randint(100_000, 400_000)
    return make_message(
        subject=f"Contract {n}", sender=sender, message_id=f"<bench{n}@x>", body=LOREM,
        attachments=[("contract.pdf", "application/pdf", os.urandom(size))],
    )  # fmt: skip


def fill(account: object, start: int, count: int, rng: random.Random) -> int:
    """APPEND ``count`` messages over one IMAP session; returns the bytes appended."""
    imap = account.client()  # type: ignore[attr-defined]
    total = 0
    try:
        for n in range(start, start + count):
            raw = mixed_message(n, rng)
            total += len(raw)
            typ, data = imap.append("INBOX", None, None, raw)
            assert typ == "OK", data
    finally:
        imap.logout()
    return total


def reference_fetch(account: object) -> tuple[int, float]:
    """A bare imaplib session: SELECT, UID SEARCH ALL, UID FETCH BODY.PEEK[] in batches of 200."""
    started = time.perf_counter()
    imap = imaplib.IMAP4(account.host, account.port)  # type: ignore[attr-defined]
    imap.login(account.username, account.password)  # type: ignore[attr-defined]
    imap.select("INBOX", readonly=True)
    _, data = imap.uid("SEARCH", "ALL")
    uids = data[0].split()
    count = 0
    for i in range(0, len(uids), 200):
        batch = b",".join(uids[i : i + 200]).decode()
        _, fetched = imap.uid("FETCH", batch, "(BODY.PEEK[])")
        count += sum(1 for part in fetched if isinstance(part, tuple))
    imap.logout()
    return count, time.perf_counter() - started


def reference_incremental(account: object, last_uid: int) -> float:
    """What the incremental sync asks the server, by a bare imaplib session: login, SELECT, UID SEARCH above the
    checkpoint, UID FETCH BODY.PEEK[] of what it finds. The server's own share of the incremental figure."""
    started = time.perf_counter()
    imap = imaplib.IMAP4(account.host, account.port)  # type: ignore[attr-defined]
    imap.login(account.username, account.password)  # type: ignore[attr-defined]
    imap.select("INBOX", readonly=True)
    _, data = imap.uid("SEARCH", f"UID {last_uid + 1}:*")
    uids = data[0].split()
    if uids:
        imap.uid("FETCH", b",".join(uids).decode(), "(BODY.PEEK[])")
    imap.logout()
    return time.perf_counter() - started


def mailbox_for(account: object, owner: object, name: str) -> object:
    from rapport.mail import crypto
    from rapport.mail.models import Mailbox

    return Mailbox.objects.create(
        name=name, address=account.username, owner=owner, imap_host=account.host,  # type: ignore[attr-defined]
        imap_port=account.port, imap_security="none", username=account.username,  # type: ignore[attr-defined]
        secret_encrypted=crypto.encrypt(account.password),  # type: ignore[attr-defined]
    )  # fmt: skip


def seed_synced(mailbox: object, account: object, count: int) -> None:
    """Rows of ``count`` already-synced messages with the server's real UIDs (bulk, like a finished sync)."""
    from django.utils import timezone

    from rapport.mail.models import MailFolder, Message, MessageLocation, Thread
    from rapport.mail.sync import imap

    client = imap.connect(mailbox)  # type: ignore[arg-type]
    try:
        folders = imap.discover_folders(mailbox, client)  # type: ignore[arg-type]
        status = client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
    finally:
        imap.close(client)
    inbox = next(f for f in folders if f.name == "INBOX")
    now = timezone.now()
    threads = Thread.objects.bulk_create(
        [Thread(mailbox=mailbox, subject=f"T{i}", subject_key=f"t{i}", first_at=now, last_at=now)
         for i in range(count // 10 + 1)]
    )  # fmt: skip
    messages = Message.objects.bulk_create(
        [Message(mailbox=mailbox, thread=threads[i // 10], message_id=f"big{i}@x", subject=f"M{i}", sent_at=now)
         for i in range(count)],
        batch_size=2000,
    )  # fmt: skip
    MessageLocation.objects.bulk_create(
        [MessageLocation(message=m, folder=inbox, uid=uid, uidvalidity=int(status[b"UIDVALIDITY"]))
         for m, uid in zip(messages, uids, strict=False)],
        batch_size=2000,
    )  # fmt: skip
    MailFolder.objects.filter(pk=inbox.pk).update(uidvalidity=int(status[b"UIDVALIDITY"]), last_uid=max(uids))


def ready_maildir(folder: Path, count: int) -> Path:
    """``count`` small messages in ``folder``/cur, written once and kept for later runs."""
    cur = folder / "cur"
    done = folder / "complete"
    if done.exists() and int(done.read_text()) == count:
        return cur
    cur.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        path = cur / f"{1700000000 + n}.M{n}P1.bench:2,S"
        if not path.exists():
            path.write_bytes(make_message(subject=f"Old {n}", message_id=f"<big{n}@x>", body=LOREM))
    done.write_text(str(count))
    return cur


def write_maildir(server: object, account: object, source: Path) -> None:
    """Copy the ready-made messages straight into the user's maildir (APPEND of 50,000 would take minutes);
    Dovecot indexes them at the next SELECT."""
    import shutil

    user = account.username.partition("@")[0]  # type: ignore[attr-defined]
    cur = Path(server.root) / "mail" / user / "cur"  # type: ignore[attr-defined]
    account.status("INBOX")  # type: ignore[attr-defined]  # makes the maildir
    import pwd

    owner = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
    for path in source.iterdir():
        target = cur / path.name
        shutil.copyfile(path, target)
        if owner is not None:
            os.chown(target, owner.pw_uid, owner.pw_gid)


def timed_hooks() -> dict[str, float]:
    """Wrap mail.services.RECEIVED_HOOKS and RECEIVED_BATCH_HOOKS so the CPU they take is counted apart (they
    belong to other apps)."""
    from rapport.mail import services

    spent = {"cpu": 0.0, "calls": 0}

    def wrap(hook):  # type: ignore[no-untyped-def]
        def timed(message):  # type: ignore[no-untyped-def]
            started = time.process_time()
            try:
                return hook(message)
            finally:
                spent["cpu"] += time.process_time() - started
                spent["calls"] += 1

        return timed

    services.RECEIVED_HOOKS[:] = [wrap(h) for h in services.RECEIVED_HOOKS]
    services.RECEIVED_BATCH_HOOKS[:] = [wrap(h) for h in services.RECEIVED_BATCH_HOOKS]
    return spent


def use_postgres() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")
    os.environ["RAPPORT_DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--big", type=int, default=50000)
    parser.add_argument("--mailboxes", type=int, default=100)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--maildir", type=Path, default=None, help="where the --big messages are kept between runs")
    args = parser.parse_args()
    if args.db == "postgres":
        use_postgres()
    else:
        os.environ.pop("RAPPORT_DATABASE_URL", None)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from rapport.accounts.models import User
    from rapport.mail.models import MailFolder, Message
    from rapport.mail.sync import sync_mailbox

    rng = random.Random(7)
    results: dict[str, object] = {
        "machine": machine(), "db": args.db, "started_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }  # fmt: skip
    hooks = timed_hooks()
    server = start_dovecot()
    try:
        owner = User.objects.create_user(username="bench", password="x", email="bench@rapport.test")

        # 1. initial sync vs bare imaplib
        account = server.add_user()
        log(f"appending {args.messages} mixed messages")
        size = fill(account, 0, args.messages, rng)
        ref_count, ref_seconds = reference_fetch(account)
        mailbox = mailbox_for(account, owner, "initial")
        started, cpu = time.perf_counter(), time.process_time()
        result = sync_mailbox(mailbox)  # type: ignore[arg-type]
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert result.status == "ok" and result.stored == args.messages == ref_count, result
        results["initial"] = {
            "messages": args.messages,
            "megabytes": round(size / 1e6, 1),
            "rapport_seconds": round(seconds, 2),
            "rapport_per_second": round(args.messages / seconds, 1),
            "imaplib_seconds": round(ref_seconds, 2),
            "imaplib_per_second": round(ref_count / ref_seconds, 1),
            "ratio": round((args.messages / seconds) / (ref_count / ref_seconds), 3),
            "cpu_ms_per_message": round(cpu / args.messages * 1000, 2),
            "hooks_cpu_ms_per_message": round(hooks["cpu"] / args.messages * 1000, 2),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        log(f"initial: {results['initial']}")

        # 2. incremental: 10 new in a big mailbox
        big = server.add_user()
        source = ready_maildir(args.maildir or Path(f"/work/wt/benchdata/mail/big-{args.big}"), args.big)
        log(f"copying {args.big} messages from {source} into a maildir")
        write_maildir(server, big, source)
        big_box = mailbox_for(big, owner, "big")
        seed_synced(big_box, big, args.big)
        sync_mailbox(big_box)  # type: ignore[arg-type]  # a no-change run first (the folder's state settles)
        checkpoint = MailFolder.objects.get(mailbox=big_box, name="INBOX").last_uid
        fill(big, args.big, 10, random.Random(1))
        started, cpu = time.perf_counter(), time.process_time()
        result = sync_mailbox(big_box)  # type: ignore[arg-type]
        inc, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert result.stored == 10, result
        server_share = reference_incremental(big, checkpoint)
        results["incremental"] = {
            "mailbox": args.big, "new": 10, "seconds": round(inc, 3), "cpu_seconds": round(cpu, 3),
            "imaplib_same_steps_seconds": round(server_share, 3),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }  # fmt: skip
        log(f"incremental: {results['incremental']}")

        # 3. one worker, many mailboxes
        if args.mailboxes:
            boxes = []
            for i in range(args.mailboxes):
                acc = server.add_user()
                acc.append_many([make_message(subject=f"Hi {i}-{k}", message_id=f"<mb{i}-{k}@x>") for k in range(5)])
                box = mailbox_for(acc, owner, f"box{i}")
                sync_mailbox(box)  # type: ignore[arg-type]
                acc.append(make_message(subject=f"New {i}", message_id=f"<mbnew{i}@x>"))
                boxes.append(box)
            started, cpu = time.perf_counter(), time.process_time()
            stored = sum(sync_mailbox(b).stored for b in boxes)  # type: ignore[arg-type]
            sweep, cpu = time.perf_counter() - started, time.process_time() - cpu
            assert stored == args.mailboxes, stored
            results["many"] = {
                "mailboxes": args.mailboxes, "seconds": round(sweep, 2), "cpu_seconds": round(cpu, 2),
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }  # fmt: skip
            log(f"many: {results['many']}")
        results["messages_stored"] = Message.objects.count()
    finally:
        server.stop()

    initial = results["initial"]
    print("\n| measurement | Rapport | reference | ratio / target |")
    print("|---|---|---|---|")
    print(f"| initial sync, {initial['messages']} msgs ({initial['megabytes']} MB) | "  # type: ignore[index]
          f"{initial['rapport_per_second']} msg/s ({initial['rapport_seconds']} s) | "  # type: ignore[index]
          f"imaplib {initial['imaplib_per_second']} msg/s ({initial['imaplib_seconds']} s) | "  # type: ignore[index]
          f"{initial['ratio']} (≥ 0.5) |")  # type: ignore[index]  # fmt: skip
    inc_row = results["incremental"]
    print(f"| initial sync, CPU per message | {initial['cpu_ms_per_message']} ms "  # type: ignore[index]
          f"(of which received hooks {initial['hooks_cpu_ms_per_message']} ms) | | |")  # type: ignore[index]  # fmt: skip
    print(f"| incremental, 10 new in {inc_row['mailbox']} | {inc_row['seconds']} s "  # type: ignore[index]
          f"(CPU {inc_row['cpu_seconds']} s) | imaplib, same steps just after: "  # type: ignore[index]
          f"{inc_row['imaplib_same_steps_seconds']} s | < 1 s |")  # type: ignore[index]  # fmt: skip
    if "many" in results:
        many = results["many"]
        print(f"| one worker, {many['mailboxes']} mailboxes, 1 new each | {many['seconds']} s "  # type: ignore[index]
              f"(CPU {many['cpu_seconds']} s) | | < 60 s |")  # type: ignore[index]  # fmt: skip
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(f"\nload average before {results['load_average_before']}, after {results['load_average_after']}; "
          f"{args.db}")  # fmt: skip
    out = ROOT / "bench" / "results"
    results["db"] = args.db
    out.mkdir(parents=True, exist_ok=True)
    (out / f"email_sync-{dt.datetime.now():%Y%m%d-%H%M%S}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
