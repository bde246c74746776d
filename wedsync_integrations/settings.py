"""Settings, all read from the environment (django-environ).

Embedded default (nothing set): SQLite file under var/, a filesystem Celery broker, a file cache,
vendors reachable only where configured. Real services are switched on by environment:
DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis or RabbitMQ), CACHE_URL (Redis).
DJANGO_ENV=production turns every deploy safeguard on and refuses to start without real secrets.
"""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from wedsync_integrations.core import local_files

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = local_files.var_dir()

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be development, test or production, not {DJANGO_ENV!r}")
PRODUCTION = DJANGO_ENV == "production"
DEBUG = env.bool("DJANGO_DEBUG", default=DJANGO_ENV == "development")
if PRODUCTION and DEBUG:
    # DEBUG's error pages print the settings, and Django hides only names that look secret: the
    # passwords inside CELERY_BROKER_URL and CACHE_URL would be shown to whoever causes a 500.
    raise ImproperlyConfigured("DJANGO_DEBUG must not be on in production (error pages would show settings)")
ENVIRONMENT_NAME = env.str("WEDSYNC_ENVIRONMENT", default="prod" if PRODUCTION else "dev")


def _local_secret(variable: str, filename: str) -> str:
    """A per-checkout secret under var/, which manage.py prepares (core/local_files.py) so the
    embedded default runs with no set-up. Production never reaches this: it must receive its
    secrets from the environment. Reading settings never writes a file."""
    if PRODUCTION:
        raise ImproperlyConfigured(f"{variable} must be set in the environment in production")
    value = local_files.read_secret(filename)
    if not value:
        raise ImproperlyConfigured(
            f"{variable} is not set and {VAR_DIR / filename} does not exist yet: run any manage.py command "
            "once (`make install` does), or set SECRET_KEY and FIELD_ENCRYPTION_KEYS in the environment"
        )
    return value


SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret("SECRET_KEY", local_files.SECRET_KEY_FILE)
# Comma-separated Fernet keys; the first encrypts, all decrypt (MultiFernet). Rotate with
# `manage.py rotate_secrets` after putting the new key first.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[]) or [
    _local_secret("FIELD_ENCRYPTION_KEYS", local_files.ENCRYPTION_KEY_FILE)
]

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The externally visible base URL, used where a vendor signs the URL it called (Twilio).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_celery_beat",
    # the shared kernel
    "wedsync_integrations.core",
    "wedsync_integrations.tenants",
    "wedsync_integrations.usage",
    "wedsync_integrations.integrations",
    # one app per integration family
    "webhooks",
    "monitoring",
    "alerts",
    "bi",
    "crm",
    "accounting",
    # the operations console reads every family, so it comes after them
    "wedsync_integrations.console",
]

MIDDLEWARE = [
    "wedsync_integrations.core.observability.CorrelationIdMiddleware",
    "wedsync_integrations.core.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "wedsync_integrations.urls"
WSGI_APPLICATION = "wedsync_integrations.wsgi.application"
ASGI_APPLICATION = "wedsync_integrations.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -----------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'wedsync.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # web, worker and beat share one file: WAL lets readers run beside the writer, IMMEDIATE
    # transactions take the write lock up front instead of failing half-way with "locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # The rollup's covering index (INCLUDE columns) is a PostgreSQL optimisation; SQLite builds
    # it as a plain index. Without this every manage.py command of the demo prints a warning.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache (circuit breakers, rate limits, health results are shared through it) -------------
CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}
# Keeps one deployment's keys apart from another's on a shared Redis (the drill uses its own).
CACHES["default"]["KEY_PREFIX"] = env.str("CACHE_KEY_PREFIX", default="")
if CACHES["default"]["BACKEND"].endswith(".RedisCache"):
    # Request paths carry on without the cache (core/tolerant_cache.py), but only once a call has
    # failed: an unanswering Redis must cost a request a second, not the OS's minutes-long connect.
    _cache_timeout = env.float("CACHE_SOCKET_TIMEOUT_SECONDS", default=1.0)
    CACHES["default"].setdefault("OPTIONS", {})
    CACHES["default"]["OPTIONS"].setdefault("socket_connect_timeout", _cache_timeout)
    CACHES["default"]["OPTIONS"].setdefault("socket_timeout", _cache_timeout)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"  # wedding rules are London rules; storage is UTC (USE_TZ)
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # prepared by manage.py (whitenoise warns when it is missing)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- request limits ---------------------------------------------------------------------------
USAGE_MAX_BODY_BYTES = env.int("USAGE_MAX_BODY_BYTES", default=4 * 1024 * 1024)
USAGE_MAX_BATCH = 1000
DATA_UPLOAD_MAX_MEMORY_SIZE = USAGE_MAX_BODY_BYTES

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "WedSync Integrations API",
    "DESCRIPTION": "AI-usage ingest and signed inbound webhooks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # A broker that needs no server: messages are files in var/broker, shared by every local
    # process. Fine for one machine; use Redis or RabbitMQ to scale out.
    _broker_dir = VAR_DIR / "broker"  # its folders are prepared by manage.py (core/local_files.py)
    # kombu's filesystem transport, except that a message file appears only once it is complete
    CELERY_BROKER_TRANSPORT = "wedsync_integrations.core.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # broadcast exchanges; kombu's default is ./control
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or (
    f"file://{VAR_DIR / 'celery-results'}"
    if CELERY_BROKER_URL.startswith("filesystem://")
    else CELERY_BROKER_URL.replace("amqp://", "rpc://", 1)
    if CELERY_BROKER_URL.startswith("amqp")
    else CELERY_BROKER_URL
)
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
# A worker that dies mid-task leaves the message unacknowledged, so another worker redoes it:
# every task is written to be idempotent.
CELERY_TASK_ACKS_LATE = True
# The queue tasks go to unless routed elsewhere; a deployment sharing a broker uses its own.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# The queue of every task not routed elsewhere (workers consume it unless told otherwise).
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Worker and beat log through Celery's own handlers, not LOGGING below; these are Celery's formats
# plus the correlation id (core/observability.py gives those handlers the filter that supplies it).
CELERY_WORKER_LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] [cid=%(correlation_id)s] %(message)s"
CELERY_WORKER_TASK_LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] [cid=%(correlation_id)s] %(task_name)s[%(task_id)s]: %(message)s"
)

# --- outbound HTTP ----------------------------------------------------------------------------
# Hosts a tenant- or staff-supplied URL may point at even though they resolve to a private,
# loopback or link-local address (the local sandbox, tests). Plain http is allowed only for these.
OUTBOUND_URL_ALLOWLIST = env.list("OUTBOUND_URL_ALLOWLIST", default=[])
OUTBOUND_CONNECT_TIMEOUT = env.float("OUTBOUND_CONNECT_TIMEOUT", default=5.0)
OUTBOUND_READ_TIMEOUT = env.float("OUTBOUND_READ_TIMEOUT", default=20.0)
CIRCUIT_FAILURE_THRESHOLD = env.int("CIRCUIT_FAILURE_THRESHOLD", default=5)
CIRCUIT_RESET_SECONDS = env.int("CIRCUIT_RESET_SECONDS", default=60)
# A call held back by a vendor's per-tenant rate limit (integrations/ratelimit.py) waits this long
# for its turn, then goes back on the retry queue with the wait as its Retry-After.
OUTBOUND_RATE_LIMIT_MAX_WAIT_SECONDS = env.float("OUTBOUND_RATE_LIMIT_MAX_WAIT_SECONDS", default=10.0)
HEALTH_CACHE_SECONDS = 300
# Vendor lists (ledger accounts, tax codes) offered on admin's configuration pages are cached this
# long; a failed read is tried again after LIVE_CHOICES_RETRY_SECONDS (a text box meanwhile).
LIVE_CHOICES_CACHE_SECONDS = env.int("LIVE_CHOICES_CACHE_SECONDS", default=300)
LIVE_CHOICES_RETRY_SECONDS = env.int("LIVE_CHOICES_RETRY_SECONDS", default=60)
# One drain per (organisation, provider) at a time, under a lease its holder renews every third
# of this: after a worker dies mid-drain, the next drain takes over within this many seconds.
OUTBOX_DRAIN_LEASE_SECONDS = env.float("OUTBOX_DRAIN_LEASE_SECONDS", default=10.0)

# --- inbound webhooks (webhooks app) ----------------------------------------------------------
# The platform Slack app's signing secret, for the global /api/webhooks/ai-integrations/slack/.
SLACK_SIGNING_SECRET = env.str("SLACK_SIGNING_SECRET", default="")
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=1024 * 1024)
# Per source and organisation; a config's settings may override either figure.
WEBHOOK_RATE_LIMIT_PER_MINUTE = env.int("WEBHOOK_RATE_LIMIT_PER_MINUTE", default=100)
WEBHOOK_PEAK_RATE_LIMIT_PER_MINUTE = env.int("WEBHOOK_PEAK_RATE_LIMIT_PER_MINUTE", default=300)
# Requests failing verification, per client address and minute, whatever source or organisation:
# each costs a rejected-attempt row, so past this they are refused (429) without one.
WEBHOOK_FORGED_RATE_LIMIT_PER_MINUTE = env.int("WEBHOOK_FORGED_RATE_LIMIT_PER_MINUTE", default=30)
# Celery queues for processing inbound events ("" = the default queue). Give
# WEBHOOK_PRIORITY_QUEUE its own worker so wedding-day events never wait behind a backlog.
WEBHOOK_TASK_QUEUE = env.str("WEBHOOK_TASK_QUEUE", default="")
WEBHOOK_PRIORITY_QUEUE = env.str("WEBHOOK_PRIORITY_QUEUE", default="")
# When an event's processing task is published: "" = each source's default (alert sources as the
# event is stored, CRM/accounting by the beat sweeper); "immediate" or "sweeper" forces one for all.
WEBHOOK_DISPATCH = env.str("WEBHOOK_DISPATCH", default="")
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=90)
# Reverse proxies in front of the app that append to X-Forwarded-For (0: use REMOTE_ADDR).
WEBHOOK_TRUSTED_PROXY_COUNT = env.int("WEBHOOK_TRUSTED_PROXY_COUNT", default=0)
# How long a web process reuses a source's configuration (secrets, settings) before re-reading it.
WEBHOOK_CONFIG_CACHE_SECONDS = env.float("WEBHOOK_CONFIG_CACHE_SECONDS", default=5.0)

# --- email ------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)  # SMTP has no timeout unless given one
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="WedSync Alerts <alerts@wedsync.example>")

# --- alerts family ------------------------------------------------------------------------------
# An organisation's AI error rate over the last ALERTS_ERROR_RATE_WINDOW raises an alert at 10 %
# normally, 5 % in peak season (May–September) and 2 % in the wedding-day window (Friday 18:00 to
# Sunday 23:00, London); the lowest applicable threshold wins. Twice the threshold makes the alert
# high instead of medium; below half the threshold an open one auto-resolves. Fewer requests than
# ALERTS_ERROR_RATE_MIN_REQUESTS in the window never alert (3 failures out of 4 is noise).
ALERTS_ERROR_RATE_THRESHOLDS = {
    "default": env.float("ALERTS_ERROR_RATE_DEFAULT", default=0.10),
    "peak_season": env.float("ALERTS_ERROR_RATE_PEAK_SEASON", default=0.05),
    "wedding_day": env.float("ALERTS_ERROR_RATE_WEDDING_DAY", default=0.02),
}
ALERTS_ERROR_RATE_WINDOW = timedelta(seconds=env.int("ALERTS_ERROR_RATE_WINDOW_SECONDS", default=3600))
ALERTS_ERROR_RATE_MIN_REQUESTS = env.int("ALERTS_ERROR_RATE_MIN_REQUESTS", default=20)
# another family's delivery raises a medium alert after this many failed attempts in a row (high
# once it is dead, or when a configuration is stopped)
ALERTS_FAILING_DELIVERY_ATTEMPTS = env.int("ALERTS_FAILING_DELIVERY_ATTEMPTS", default=3)
# platform-wide alerts are delivered through this organisation's channel configurations
ALERTS_PLATFORM_ORGANISATION = env.str("ALERTS_PLATFORM_ORGANISATION", default="wedsync")
ALERTS_SMS_MAX_SEGMENTS = env.int("ALERTS_SMS_MAX_SEGMENTS", default=2)  # alert texts are trimmed to fit
# Slack lets a response_url be used 5 times in 30 minutes
ALERTS_SLACK_RESPONSE_URL_MAX_AGE = timedelta(minutes=30)
ALERTS_SLACK_RESPONSE_URL_MAX_USES = 5
# a channel task finding the pair's drain lock held comes back this often, this many times
ALERTS_DISPATCH_RETRY_SECONDS = env.float("ALERTS_DISPATCH_RETRY_SECONDS", default=0.25)
ALERTS_DISPATCH_MAX_RETRIES = env.int("ALERTS_DISPATCH_MAX_RETRIES", default=40)
# the Celery queue channel deliveries go to ("" = the default queue); production should set
# "alerts" and run a worker on it, so a page never waits behind a long monitoring export
ALERTS_TASK_QUEUE = env.str("ALERTS_TASK_QUEUE", default="")

# --- /metrics --------------------------------------------------------------------------------
METRICS_BEARER_TOKEN = env.str("METRICS_BEARER_TOKEN", default="")

# --- usage ingest and rollups -------------------------------------------------------------------
USAGE_MAX_FUTURE_SECONDS = env.int("USAGE_MAX_FUTURE_SECONDS", default=300)  # clock skew we tolerate
USAGE_ROLLUP_CONNECTIONS = env.int("USAGE_ROLLUP_CONNECTIONS", default=2)  # parallel backlog catch-up
USAGE_USD_GBP_PLAUSIBLE = ("0.40", "1.10")  # admin and imports refuse rates outside (typos, inverted rates)
# Usage with no exchange rate yet is stored with its GBP cost pending; past this many seconds of
# waiting one alert is raised. EXCHANGE_RATE_FEED_URL, when set, is fetched hourly (Bank of
# England CSV shape, series XUDLUSS) and passes the SSRF guard like every configured URL.
USAGE_RATE_PENDING_ALERT_AFTER = env.int("USAGE_RATE_PENDING_ALERT_AFTER", default=6 * 3600)
EXCHANGE_RATE_FEED_URL = env.str("EXCHANGE_RATE_FEED_URL", default="")

# --- monitoring exports -----------------------------------------------------------------------
# Platform-wide credential for /metrics/ai (every tenant's series); tenants use their own token.
MONITORING_SCRAPE_TOKEN = env.str("MONITORING_SCRAPE_TOKEN", default="")
# An hour is exported once it ended this long ago (and its rollup is clean).
MONITORING_EXPORT_GRACE_SECONDS = env.int("MONITORING_EXPORT_GRACE_SECONDS", default=60)

# --- BI exports (bi app; docs/families/bi.md) ---------------------------------------------------
# Days of history a BI tool receives (Tableau's extract and Looker's reporting tables hold them all;
# Power BI gets what changed). An hour reaches BI once it ended this long ago and its rollup is clean.
BI_HISTORY_DAYS = env.int("BI_HISTORY_DAYS", default=400)
BI_FINISHED_HOUR_GRACE_SECONDS = env.int("BI_FINISHED_HOUR_GRACE_SECONDS", default=0)
# A push is refused (gate "stale") when the metrics count usage up to an instant older than this:
# the rollups or the refresh have stopped following the usage.
BI_STALE_AFTER_SECONDS = env.int("BI_STALE_AFTER_SECONDS", default=3 * 3600)
# An hour with usage counts as down (uptime) when at least this share of its requests failed.
BI_DOWN_HOUR_ERROR_PERCENT = env.float("BI_DOWN_HOUR_ERROR_PERCENT", default=50.0)
# Celery queue of the BI refresh that follows each rollup ("" = the default queue).
BI_TASK_QUEUE = env.str("BI_TASK_QUEUE", default="")
# Power BI keeps ~200,000 rows per table (basicFIFO) and takes 1,000,000 rows an hour: a new dataset
# receives this many days of history, not all of BI_HISTORY_DAYS.
BI_POWERBI_HISTORY_DAYS = env.int("BI_POWERBI_HISTORY_DAYS", default=35)
# Power BI push-dataset limits (docs/vendors/powerbi.md), enforced before each request, shared by every worker.
BI_POWERBI_MAX_ROWS_PER_REQUEST = env.int("BI_POWERBI_MAX_ROWS_PER_REQUEST", default=10_000)
BI_POWERBI_MAX_REQUESTS_PER_MINUTE = env.int("BI_POWERBI_MAX_REQUESTS_PER_MINUTE", default=120)
BI_POWERBI_MAX_PENDING_REQUESTS = env.int("BI_POWERBI_MAX_PENDING_REQUESTS", default=5)
# Tableau: one request carries at most this many bytes of .hyper file, larger files go up in chunks.
BI_TABLEAU_SINGLE_REQUEST_BYTES = env.int("BI_TABLEAU_SINGLE_REQUEST_BYTES", default=64 * 1024 * 1024)
BI_TABLEAU_CHUNK_BYTES = env.int("BI_TABLEAU_CHUNK_BYTES", default=50 * 1024 * 1024)
# Looker's reporting tables: schema "reporting" on PostgreSQL, tables prefixed "reporting_" elsewhere.
BI_REPORTING_SCHEMA = env.str("BI_REPORTING_SCHEMA", default="reporting")

# --- CRM value reports (crm app) ---------------------------------------------------------------
# A month's report goes to the CRMs this many days after the month ends (London midnight), so
# usage the AI platform sends late is in it; the month's rollups must also be final by then.
CRM_MONTH_CLOSE_DAYS = env.int("CRM_MONTH_CLOSE_DAYS", default=2)
# A wedding linked to a Tave job gets its "AI help" note on that job this many days after its date.
CRM_WEDDING_NOTE_AFTER_DAYS = env.int("CRM_WEDDING_NOTE_AFTER_DAYS", default=1)

# --- accounting exports (accounting app) ----------------------------------------------------------
# A month (Europe/London) is exported once it has been over this many days: late usage has landed.
ACCOUNTING_MONTH_CLOSE_DAYS = env.int("ACCOUNTING_MONTH_CLOSE_DAYS", default=2)
# UK standard rate, in percent; VAT is worked out per line, half-up to the penny (docs/vendors/uk-vat.md).
ACCOUNTING_STANDARD_VAT_PERCENT = Decimal(env.str("ACCOUNTING_STANDARD_VAT_PERCENT", default="20"))
# VAT registration threshold (since 1 April 2024) and the percentages of it that warn an
# unregistered organisation (rolling 12 months of taxable turnover, read from its ledger).
ACCOUNTING_VAT_THRESHOLD_GBP = Decimal(env.str("ACCOUNTING_VAT_THRESHOLD_GBP", default="90000"))
ACCOUNTING_VAT_THRESHOLD_WARN_PERCENTS = env.list("ACCOUNTING_VAT_THRESHOLD_WARN_PERCENTS", cast=int, default=[80, 100])
# What the ledger mappings are matched by when staff have not chosen them (product rules): the
# supplier (a contact/vendor of this name) and the expense account or category.
ACCOUNTING_SUPPLIER_NAME = env.str("ACCOUNTING_SUPPLIER_NAME", default="WedSync AI Services")
ACCOUNTING_EXPENSE_CATEGORY = env.str("ACCOUNTING_EXPENSE_CATEGORY", default="Software and Technology")
ACCOUNTING_BILL_DUE_DAYS = env.int("ACCOUNTING_BILL_DUE_DAYS", default=14)
# An export neither confirmed by the vendor (webhook or read-back) nor delivered after this long alerts.
ACCOUNTING_UNCONFIRMED_ALERT_HOURS = env.int("ACCOUNTING_UNCONFIRMED_ALERT_HOURS", default=24)
# The nightly reconciliation reads back documents of this many recent months (and every unconfirmed one).
ACCOUNTING_RECONCILE_MONTHS = env.int("ACCOUNTING_RECONCILE_MONTHS", default=3)
# Live ledger choices (tax codes, accounts, suppliers) shown in admin are cached this long.
ACCOUNTING_LEDGER_CHOICES_CACHE_SECONDS = env.int("ACCOUNTING_LEDGER_CHOICES_CACHE_SECONDS", default=300)
ACCOUNTING_QUICKBOOKS_MINOR_VERSION = env.int("ACCOUNTING_QUICKBOOKS_MINOR_VERSION", default=75)
# Per-tenant limits the vendors set (docs/vendors/*.md), enforced client-side across all workers.
ACCOUNTING_QUICKBOOKS_REQUESTS_PER_MINUTE = env.int("ACCOUNTING_QUICKBOOKS_REQUESTS_PER_MINUTE", default=500)
ACCOUNTING_QUICKBOOKS_CONCURRENT = env.int("ACCOUNTING_QUICKBOOKS_CONCURRENT", default=10)
ACCOUNTING_XERO_REQUESTS_PER_MINUTE = env.int("ACCOUNTING_XERO_REQUESTS_PER_MINUTE", default=60)
ACCOUNTING_XERO_CONCURRENT = env.int("ACCOUNTING_XERO_CONCURRENT", default=5)
ACCOUNTING_XERO_APP_REQUESTS_PER_MINUTE = env.int("ACCOUNTING_XERO_APP_REQUESTS_PER_MINUTE", default=10000)
# Xero keeps an Idempotency-Key's answer about 6 minutes: a retry later than this looks the
# document up (contact + number) before creating it again.
ACCOUNTING_XERO_IDEMPOTENCY_WINDOW_SECONDS = env.int("ACCOUNTING_XERO_IDEMPOTENCY_WINDOW_SECONDS", default=300)

# --- sandbox ----------------------------------------------------------------------------------
SANDBOX_URL = env.str("SANDBOX_URL", default="")

# --- logging ----------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"correlation": {"()": "wedsync_integrations.core.observability.CorrelationIdFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [cid=%(correlation_id)s] %(message)s",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["correlation"], "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
    },
}

# --- production safeguards (manage.py check --deploy) -------------------------------------------
if PRODUCTION:  # (SECRET_KEY and FIELD_ENCRYPTION_KEYS: see _local_secret, which refuses production)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # health probes come over plain http from the load balancer
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

# The operations console's trend charts (console/trends.py) are recomputed at most this often;
# what needs a person (alerts, stopped integrations) is always read live.
CONSOLE_TRENDS_CACHE_SECONDS = env.int("CONSOLE_TRENDS_CACHE_SECONDS", default=60)
