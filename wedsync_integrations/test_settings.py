"""Settings for the test suite: the embedded default unless the environment names services.

.ci/run runs the suite twice: as-is (SQLite, in-memory broker, local cache) and with
DATABASE_URL, CELERY_BROKER_URL and CACHE_URL pointing at the local PostgreSQL and Redis.
"""

import os

os.environ.setdefault("DJANGO_ENV", "test")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789abcdef")
# Two fixed test keys: the first encrypts, the second proves old ciphertexts still decrypt.
os.environ.setdefault(
    "FIELD_ENCRYPTION_KEYS",
    "dGVzdC1rZXktMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=,dGVzdC1rZXktMTExMTExMTExMTExMTExMTExMTExMTE=",
)
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("CELERY_RESULT_BACKEND", "cache+memory://")
os.environ.setdefault("CACHE_URL", "locmemcache://wedsync-tests")
os.environ.setdefault("OUTBOUND_URL_ALLOWLIST", "127.0.0.1,localhost")
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")

from wedsync_integrations.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING["root"]["level"] = "WARNING"  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not Django's shared-cache in-memory database: SQLite serialises writers across
    # connections only through its file locks, and the concurrency tests (threads renewing one
    # token, racing ingest batches) need exactly that, as the embedded default has it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-wedsync.sqlite3")}  # noqa: F405
