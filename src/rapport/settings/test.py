"""Settings for the test suite: fast hashing, a throwaway data folder."""

import os
import tempfile

# Always a throwaway folder, even when RAPPORT_DATA_DIR points at a real installation.
os.environ["RAPPORT_DATA_DIR"] = os.environ.get("RAPPORT_TEST_DATA_DIR") or tempfile.mkdtemp(prefix="rapport-test-")

from .base import *  # noqa: E402,F403
from .base import DATABASES, SQLITE  # noqa: E402

# The tests' mail servers (tests/mail_servers.py) listen on loopback; mail.imap.refusal refuses it otherwise.
RAPPORT_MAIL_ALLOW_PRIVATE = ["127.0.0.0/8", "::1/128"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if SQLITE:
    # A file, not Django's shared-cache in-memory database: concurrency tests need SQLite's real
    # locking (WAL, BEGIN IMMEDIATE, busy timeout), which shared-cache memory databases bypass.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}  # noqa: F405

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
