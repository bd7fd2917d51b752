"""Settings for the test suite: fast hashing, a throwaway data folder."""

import os
import tempfile

os.environ.setdefault("RAPPORT_DATA_DIR", tempfile.mkdtemp(prefix="rapport-test-"))

from .base import *  # noqa: E402,F403
from .base import DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("RAPPORT_TEST_DATABASE_NAME")}

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
