"""Settings read from RAPPORT_* environment variables, with safe defaults for the embedded case.

Every variable is listed in docs/configuration.md.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DATA_DIR = Path(env_str("RAPPORT_DATA_DIR", str(Path.cwd() / "data"))).resolve()

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
# No RAPPORT_EMAIL_URL: nothing is sent, emails wait in the outbox (rapport.core.mail.NO_SERVER).
NO_SERVER_BACKEND = "rapport.core.mail.NoServerBackend"
_EMAIL_TRUE = {"1", "true", "yes", "on"}
_EMAIL_FALSE = {"0", "false", "no", "off"}


def parse_email_url(url: str) -> dict[str, Any]:
    """Django's email settings from ``RAPPORT_EMAIL_URL``:

    ``smtp://user:password@host:port`` (port 25; ``?starttls=1`` upgrades the connection with STARTTLS, port
    587 by default then), ``smtps://user:password@host:port`` (TLS from the start, port 465), and
    ``?timeout=<seconds>`` (30). User and password are percent-decoded (``%40`` for ``@``)."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(f"RAPPORT_EMAIL_URL must start with smtp:// or smtps://, not {parts.scheme or url!r}")
    if not parts.hostname:
        raise ValueError("RAPPORT_EMAIL_URL names no host (smtp://user:password@host:port)")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - {"starttls", "tls", "timeout"})
    if unknown:
        raise ValueError(f"RAPPORT_EMAIL_URL: unknown option {', '.join(unknown)} (starttls, timeout)")
    flag = options.get("starttls", options.get("tls", "0")).lower()
    if flag not in _EMAIL_TRUE | _EMAIL_FALSE:
        raise ValueError(f"RAPPORT_EMAIL_URL: starttls must be 1 or 0, not {flag!r}")
    ssl = parts.scheme == "smtps"
    starttls = flag in _EMAIL_TRUE
    if ssl and starttls:
        raise ValueError("RAPPORT_EMAIL_URL: smtps:// is TLS from the start; starttls is for smtp://")
    try:
        port = parts.port or (465 if ssl else 587 if starttls else 25)
        timeout = float(options.get("timeout", "30"))
    except ValueError as exc:
        raise ValueError(f"RAPPORT_EMAIL_URL: {exc}") from None
    return {
        "EMAIL_BACKEND": SMTP_BACKEND,
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_SSL": ssl,
        "EMAIL_USE_TLS": starttls,
        "EMAIL_TIMEOUT": timeout,
    }


def _secret_key() -> str:
    key = os.environ.get("RAPPORT_SECRET_KEY")
    if key:
        return key
    # Embedded default: one random key kept in the data folder, so sessions survive restarts.
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("RAPPORT_DEBUG", False)
ALLOWED_HOSTS = env_list("RAPPORT_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("RAPPORT_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "rapport.core",
    "rapport.accounts",
    "rapport.contacts",
    "rapport.sales",  # migration history only
    "rapport.deals",
    "rapport.quotes",
    "rapport.forecasting",
    "rapport.activities",
    "rapport.imports",
    "rapport.duplicates",
    "rapport.reports",
    "rapport.webhooks",
    "rapport.mail",
    "rapport.sequences",
    "rapport.invoices",
    "rapport.integrations",
    "rapport.compose",
    "rapport.automation",
    "rapport.api",
    "rapport.web",
    "rapport.jobs",
]

MIDDLEWARE = [
    "rapport.core.middleware.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "rapport.accounts.middleware.ActiveUserMiddleware",
    "rapport.core.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "rapport.core.inputs.BadInputMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "rapport.core.middleware.RequestContextMiddleware",
]

ROOT_URLCONF = "rapport.urls"
WSGI_APPLICATION = "rapport.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "rapport.web.context.navigation",
            ],
            "builtins": ["rapport.web.templatetags.fmt"],
        },
    }
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("RAPPORT_DATABASE_URL", f"sqlite:///{DATA_DIR / 'rapport.sqlite3'}")
CONN_MAX_AGE = env_int("RAPPORT_CONN_MAX_AGE", 600)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=CONN_MAX_AGE)}
SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
# Per connection (rapport.core.outage.apply_timeouts), in seconds, 0 = no limit. A request that waits longer
# for a row lock (PostgreSQL) or for the write lock (SQLite's busy timeout), or whose statement runs longer
# (PostgreSQL), gives up and is answered 503 with Retry-After. SQLite's one write lock is held by every
# writer in turn (a bulk import holds it throughout), hence its longer default.
RAPPORT_DB_LOCK_TIMEOUT = env_float("RAPPORT_DB_LOCK_TIMEOUT", 20.0 if SQLITE else 5.0)
RAPPORT_DB_STATEMENT_TIMEOUT = env_float("RAPPORT_DB_STATEMENT_TIMEOUT", 60.0)
# PostgreSQL: record lookups and child-row reads are prepared statements of the session (core/children.py);
# 0 for a pooler that does not keep them (PgBouncer in transaction mode).
RAPPORT_DB_PREPARE = env_bool("RAPPORT_DB_PREPARE", True)
if SQLITE:
    # Django's backend with each statement's placeholders converted once (rapport/core/backends/sqlite3).
    DATABASES["default"]["ENGINE"] = "rapport.core.backends.sqlite3"
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers run beside the writer; IMMEDIATE takes the write lock at BEGIN so
        # two writers queue on busy_timeout instead of failing with "database is locked".
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA cache_size=-65536; PRAGMA mmap_size=1073741824; PRAGMA temp_store=MEMORY;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": RAPPORT_DB_LOCK_TIMEOUT or 2**31 / 1000,
    }
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A sequence's step positions are unique as a deferred constraint on PostgreSQL (a reorder swaps them inside one
# transaction); SQLite cannot defer one, the reorder service alone keeps them apart there. Without this, every
# command of the embedded default (make run included) printed models.W038.
SILENCED_SYSTEM_CHECKS = ["models.W038"]

# --- Auth and security ----------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_MAX_FAILURES_PER_ACCOUNT = env_int("RAPPORT_LOGIN_MAX_FAILURES_PER_ACCOUNT", 5)
LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("RAPPORT_LOGIN_MAX_FAILURES_PER_ADDRESS", 20)
LOGIN_MAX_FAILURES_PER_ACCOUNT_EVERYWHERE = env_int("RAPPORT_LOGIN_MAX_FAILURES_PER_ACCOUNT_EVERYWHERE", 100)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("RAPPORT_LOGIN_FAILURE_WINDOW", 900)
# A password-reset link works once, for this many seconds; requests are counted per address and per email.
PASSWORD_RESET_TIMEOUT = env_int("RAPPORT_PASSWORD_RESET_TIMEOUT", 3600)
PASSWORD_RESET_THROTTLE_WINDOW = 3600
PASSWORD_RESET_MAX_PER_ADDRESS = env_int("RAPPORT_PASSWORD_RESET_MAX_PER_ADDRESS", 10)
PASSWORD_RESET_MAX_PER_EMAIL = env_int("RAPPORT_PASSWORD_RESET_MAX_PER_EMAIL", 3)

HTTPS = env_bool("RAPPORT_HTTPS", False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("RAPPORT_SESSION_AGE", 14 * 24 * 3600)
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
BEHIND_PROXY = env_bool("RAPPORT_BEHIND_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Proxies (addresses or CIDRs) whose X-Forwarded-For is believed, for the login throttle's client address.
# Behind a proxy on the same machine (RAPPORT_BEHIND_PROXY) that is loopback unless set otherwise.
RAPPORT_TRUSTED_PROXIES = env_list("RAPPORT_TRUSTED_PROXIES", "127.0.0.1,::1" if BEHIND_PROXY else "")
for _proxy in RAPPORT_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ValueError(f"RAPPORT_TRUSTED_PROXIES: {_proxy!r} is not an IP address or network") from None
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Locale ---------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("RAPPORT_TIME_ZONE", "UTC")
# How numbers, money and dates read for users who have not picked a locale (one of core.formatting.LOCALES).
RAPPORT_LOCALE = env_str("RAPPORT_LOCALE", "en-US")
USE_I18N = True
USE_TZ = True
PHONE_DEFAULT_REGION = env_str("RAPPORT_PHONE_REGION", "US")
# Click to call: the address a phone number links to, {number} being its E.164 form (+33123456789) and
# {digits} the same without "+"; empty: tel:{number}. E.g. sip:{number}@pbx.example.com, or
# https://pbx.example.com/call?to={number} for a softphone's web API.
RAPPORT_DIALER_URL = env_str("RAPPORT_DIALER_URL", "")
if RAPPORT_DIALER_URL and (
    ("{number}" not in RAPPORT_DIALER_URL and "{digits}" not in RAPPORT_DIALER_URL)
    or RAPPORT_DIALER_URL.split(":", 1)[0].lower() not in ("tel", "sip", "sips", "callto", "http", "https")
):
    raise ValueError(
        "RAPPORT_DIALER_URL must hold {number} or {digits} and start with tel:, sip:, sips:, callto:, http: or https:"
    )
# The address people reach Rapport at, for links in emails (reminders, digests).
# Unset, it is where `rapport serve` listens (RAPPORT_HOST and RAPPORT_PORT, which `make run` sets).
_SERVE_HOST = env_str("RAPPORT_HOST", "127.0.0.1")
RAPPORT_SITE_URL = env_str(
    "RAPPORT_SITE_URL",
    f"http://{'127.0.0.1' if _SERVE_HOST in ('0.0.0.0', '::', '') else _SERVE_HOST}:{env_str('RAPPORT_PORT', '8000')}",
)
# Outgoing mail (reminders, digests, password-reset links), sent from the outbox by the job worker: through
# the server of RAPPORT_EMAIL_URL (smtp://user:password@host:port, smtps://…), or of RAPPORT_EMAIL_HOST and its
# companions; with neither, through none: the emails wait in the outbox (Settings → Outbox) instead of
# failing against a server on localhost:25 that is not there.
RAPPORT_EMAIL_URL = env_str("RAPPORT_EMAIL_URL", "")
EMAIL_BACKEND = SMTP_BACKEND if os.environ.get("RAPPORT_EMAIL_HOST") else NO_SERVER_BACKEND
EMAIL_HOST = env_str("RAPPORT_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("RAPPORT_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("RAPPORT_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_str("RAPPORT_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("RAPPORT_EMAIL_TLS", False)
EMAIL_USE_SSL = False
EMAIL_TIMEOUT: float = 30
if RAPPORT_EMAIL_URL:
    _email = parse_email_url(RAPPORT_EMAIL_URL)
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST, EMAIL_PORT = _email["EMAIL_HOST"], _email["EMAIL_PORT"]
    EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_USER"], _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_SSL, EMAIL_USE_TLS = _email["EMAIL_USE_SSL"], _email["EMAIL_USE_TLS"]
    EMAIL_TIMEOUT = _email["EMAIL_TIMEOUT"]
DEFAULT_FROM_EMAIL = SERVER_EMAIL = env_str("RAPPORT_EMAIL_FROM", "Rapport <rapport@localhost>")
# A send that fails is tried again after 1, 2, 4 … minutes (at most 6 h apart), and given up after this many.
RAPPORT_EMAIL_MAX_ATTEMPTS = env_int("RAPPORT_EMAIL_MAX_ATTEMPTS", 8)
# Email sent from the CRM (rapport.compose, docs/email.md): at most this many messages per sender and day (the
# sender's local day; 0 = no limit), attachments of one message together at most this many bytes, and how long
# a worker may hold a message it is sending before it counts as gone.
RAPPORT_MAIL_DAILY_CAP = env_int("RAPPORT_MAIL_DAILY_CAP", 200)
RAPPORT_MAIL_MAX_ATTACHMENT_BYTES = env_int("RAPPORT_MAIL_MAX_ATTACHMENT_BYTES", 10 * 1024 * 1024)
RAPPORT_MAIL_CLAIM_TIMEOUT = env_int("RAPPORT_MAIL_CLAIM_TIMEOUT", 900)
BASE_CURRENCY = env_str("RAPPORT_BASE_CURRENCY", "USD")

# --- Outbound HTTP (rapport.core.http; docs/configuration.md) --------------------------------
# Ports outbound requests (webhooks) may use besides 80 and 443.
RAPPORT_HTTP_ALLOWED_PORTS = [int(p) for p in env_list("RAPPORT_HTTP_ALLOWED_PORTS", "")]
# Networks an administrator trusts although they are not public (e.g. 10.0.5.0/24 for an in-house receiver).
RAPPORT_HTTP_ALLOW_PRIVATE = env_list("RAPPORT_HTTP_ALLOW_PRIVATE", "")
for _network in RAPPORT_HTTP_ALLOW_PRIVATE:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ValueError(f"RAPPORT_HTTP_ALLOW_PRIVATE: {_network!r} is not an IP address or network") from None
# Send outbound requests through this proxy (http://host:port); the proxy then resolves the names.
RAPPORT_HTTP_PROXY = env_str("RAPPORT_HTTP_PROXY", "")
# Outgoing webhooks: a subscription is disabled after this many deliveries in a row were given up.
RAPPORT_WEBHOOK_DISABLE_AFTER = env_int("RAPPORT_WEBHOOK_DISABLE_AFTER", 5)
# Seconds one delivery may take (connect, send, answer) before it counts as failed.
RAPPORT_WEBHOOK_TIMEOUT = env_float("RAPPORT_WEBHOOK_TIMEOUT", 15)
# Workflow rules: how many rules may follow one another (each triggered by the one before) before a run is stopped.
RAPPORT_AUTOMATION_MAX_DEPTH = env_int("RAPPORT_AUTOMATION_MAX_DEPTH", 5)

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("RAPPORT_STATIC_ROOT", str(DATA_DIR / "static")))
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
# Stored files (mail attachments) on local disk; S3-compatible storage through django-storages at scale.
MEDIA_ROOT = Path(env_str("RAPPORT_FILES_DIR", str(DATA_DIR / "files")))
MEDIA_URL = "/files/"  # never served as such: attachments are served by views that check visibility
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rapport.api.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rapport.core.inputs.JSONParser"],
    "EXCEPTION_HANDLER": "rapport.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"user": env_str("RAPPORT_API_RATE", "6000/min")},
    "UNAUTHENTICATED_USER": None,
    # ?format= belongs to exports (csv, xlsx), not to renderer negotiation.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Rapport API",
    "DESCRIPTION": "REST API of Rapport, the self-hosted CRM. Authenticate with `Authorization: Bearer <token>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # 3.1: a nullable linked record is `oneOf: [Link, null]`, which validators and generated clients
    # read the same way (3.0's `nullable` beside `allOf` is read differently by each).
    "OAS_VERSION": "3.1.0",
    # Error responses, headers and this installation's custom fields (rapport/api/schema.py). Enums stay
    # inline (no shared enum components): each is named by its schema and property in generated clients,
    # where a shared component would need a made-up name per colliding field ("kind", "status"...).
    "POSTPROCESSING_HOOKS": ["rapport.api.schema.postprocess"],
}

# --- Cache ----------------------------------------------------------------------------------
# Empty: Django's per-process memory cache. redis://...: one cache shared by every web process, which
# also holds the API rate-limit counts (otherwise those are kept in the database, shared all the same).
RAPPORT_CACHE_URL = env_str("RAPPORT_CACHE_URL", "")
if RAPPORT_CACHE_URL:
    if not RAPPORT_CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("RAPPORT_CACHE_URL must be a redis:// URL, or empty")
    if importlib.util.find_spec("redis") is None:
        raise ValueError("RAPPORT_CACHE_URL needs the Redis client: pip install 'rapport[redis]'")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": RAPPORT_CACHE_URL}}
RAPPORT_API_RATE_STORE = "cache" if RAPPORT_CACHE_URL else "database"

# --- Background jobs (docs/jobs.md) ----------------------------------------------------------
# Empty: the database queue, worked by `rapport worker` (started by `make run`). redis://...: RQ on Redis.
RAPPORT_BROKER_URL = env_str("RAPPORT_BROKER_URL", "")
# The Redis packages are the optional extra `rapport[redis]`; the database queue needs none of them.
HAVE_RQ = importlib.util.find_spec("django_rq") is not None and importlib.util.find_spec("django_tasks_rq") is not None
if HAVE_RQ:
    INSTALLED_APPS.append("django_rq")
if RAPPORT_BROKER_URL.startswith(("redis://", "rediss://", "unix://")):
    if not HAVE_RQ:
        raise ValueError("RAPPORT_BROKER_URL=redis://... needs the Redis extra: pip install 'rapport[redis]'")
    TASKS = {"default": {"BACKEND": "rapport.jobs.backends.RQBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {"default": {"URL": RAPPORT_BROKER_URL, "DEFAULT_TIMEOUT": 900}}
elif RAPPORT_BROKER_URL:
    raise ValueError("RAPPORT_BROKER_URL must be a redis:// URL, or empty for the database queue")
else:
    TASKS = {"default": {"BACKEND": "rapport.jobs.dbqueue.DatabaseBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:6379/0"}}  # unused; django_rq wants the setting
RAPPORT_JOBS_HEARTBEAT = float(env_str("RAPPORT_JOBS_HEARTBEAT", "5"))
RAPPORT_JOBS_STALE_AFTER = float(env_str("RAPPORT_JOBS_STALE_AFTER", "60"))
RAPPORT_JOBS_KEEP_DAYS = env_int("RAPPORT_JOBS_KEEP_DAYS", 14)
RAPPORT_AUDIT_KEEP_DAYS = env_int("RAPPORT_AUDIT_KEEP_DAYS", 730)
RAPPORT_LOGIN_KEEP_DAYS = env_int("RAPPORT_LOGIN_KEEP_DAYS", 730)  # the sign-in log of the adoption report
RAPPORT_NOTIFICATIONS_KEEP_DAYS = env_int("RAPPORT_NOTIFICATIONS_KEEP_DAYS", 90)
RAPPORT_OUTBOX_KEEP_DAYS = env_int("RAPPORT_OUTBOX_KEEP_DAYS", 30)
RAPPORT_EVENT_SWEEP_GRACE = env_int("RAPPORT_EVENT_SWEEP_GRACE", 60)

# --- Backups (docs/operations.md) ---------------------------------------------------------------
RAPPORT_BACKUP_DIR = Path(env_str("RAPPORT_BACKUP_DIR", str(DATA_DIR / "backups")))
# The scheduler's daily backup (at 02:30 UTC); 0 turns it off. How many archives it keeps.
RAPPORT_BACKUP_KEEP = env_int("RAPPORT_BACKUP_KEEP", 7)

# --- Lists ------------------------------------------------------------------------------------
# Lists count exactly up to this many matching rows and estimate beyond (DESIGN.md §12); a
# bulk action over "all matching" runs as a background job above RAPPORT_BULK_SYNC_LIMIT rows.
RAPPORT_LIST_COUNT_BOUND = env_int("RAPPORT_LIST_COUNT_BOUND", 10_000)
RAPPORT_BULK_SYNC_LIMIT = env_int("RAPPORT_BULK_SYNC_LIMIT", 200)
# Rows an import writes per transaction (each batch commits with its checkpoint).
RAPPORT_IMPORT_BATCH = env_int("RAPPORT_IMPORT_BATCH", 2000)

# --- Imports --------------------------------------------------------------------------------
# The largest file an import reads, and the longest cell (rapport.imports.readers caps it at 10 MB of text).
RAPPORT_IMPORT_MAX_BYTES = env_int("RAPPORT_IMPORT_MAX_BYTES", 1024**3)
RAPPORT_IMPORT_MAX_CELL_CHARS = env_int("RAPPORT_IMPORT_MAX_CELL_CHARS", 1_000_000)

# --- Sequences ------------------------------------------------------------------------------
# Emails one sender's sequences may queue per day (the sender's local day), counted atomically across workers.
RAPPORT_SEQUENCE_DAILY_CAP = env_int("RAPPORT_SEQUENCE_DAILY_CAP", 200)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A 403 or other 4xx answer is one line in the log, not a traceback; errors (5xx) keep theirs.
    "filters": {"client_errors": {"()": "rapport.core.logfilters.ClientErrorsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["client_errors"]}},
    "root": {"handlers": ["console"], "level": env_str("RAPPORT_LOG_LEVEL", "WARNING")},
}

# --- Connected mailboxes (rapport.mail; docs/email.md) ----------------------------------------------
# Fernet keys for mailbox secrets, newest first, comma-separated; unset: derived from SECRET_KEY.
RAPPORT_MAIL_KEY = env_str("RAPPORT_MAIL_KEY", "")
RAPPORT_MAIL_SYNC_EVERY = env_int("RAPPORT_MAIL_SYNC_EVERY", 300)  # seconds between syncs of a mailbox
RAPPORT_MAIL_MAX_MESSAGE_BYTES = env_int("RAPPORT_MAIL_MAX_MESSAGE_BYTES", 25 * 1024 * 1024)
# Networks a mailbox's IMAP/SMTP server may be in although they are not public (e.g. 10.0.5.0/24 for an
# in-house mail server; mail.imap.refusal). Empty by default: loopback and private addresses are refused.
RAPPORT_MAIL_ALLOW_PRIVATE = env_list("RAPPORT_MAIL_ALLOW_PRIVATE", "")
for _network in RAPPORT_MAIL_ALLOW_PRIVATE:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ValueError(f"RAPPORT_MAIL_ALLOW_PRIVATE: {_network!r} is not an IP address or network") from None
RAPPORT_MAIL_MAX_ATTACHMENT_BYTES = env_int("RAPPORT_MAIL_MAX_ATTACHMENT_BYTES", 20 * 1024 * 1024)
RAPPORT_MAIL_MAX_BODY_CHARS = env_int("RAPPORT_MAIL_MAX_BODY_CHARS", 500_000)
RAPPORT_MAIL_SYNC_LEASE = env_int("RAPPORT_MAIL_SYNC_LEASE", 120)  # seconds a dead worker's mailbox stays locked
RAPPORT_MAIL_BATCH = env_int("RAPPORT_MAIL_BATCH", 200)  # messages fetched (and checkpointed) per batch
