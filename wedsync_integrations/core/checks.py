"""System checks: configuration mistakes show up at `manage.py check`, not at 3 a.m. on a Saturday."""

from django.conf import settings
from django.core.checks import Error, Warning, register

from wedsync_integrations.integrations.secrets import fernet


@register()
def encryption_keys_usable(app_configs, **kwargs):
    try:
        fernet()
    except Exception as exc:
        return [Error(f"FIELD_ENCRYPTION_KEYS is unusable: {exc}", id="wedsync.E001")]
    return []


@register(deploy=True)
def production_services(app_configs, **kwargs):
    problems = []
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        problems.append(Warning("Production runs on SQLite; set DATABASE_URL to PostgreSQL.", id="wedsync.W001"))
    if settings.CELERY_BROKER_URL.startswith(("filesystem://", "memory://")):
        problems.append(
            Warning("Production uses a local-only Celery broker; set CELERY_BROKER_URL.", id="wedsync.W002")
        )
    backend = settings.CACHES["default"]["BACKEND"]
    if "redis" not in backend.lower() and "memcache" not in backend.lower():
        problems.append(
            Warning("Circuit breakers and rate limits need a shared cache; set CACHE_URL to Redis.", id="wedsync.W003")
        )
    return problems
