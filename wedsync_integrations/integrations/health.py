"""Per (organisation, provider) health: a live check cached for five minutes, plus local state."""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from wedsync_integrations.core.tolerant_cache import TolerantCache

from .breaker import CircuitBreaker
from .errors import IntegrationError
from .outbox import queue_depth
from .registry import HealthResult
from .secrets import redact

logger = logging.getLogger("wedsync.health")
# Without the cache every page view runs the live check: slower, still right.
_results = TolerantCache("integrations.health_cache_unavailable", "health is checked live on every view")


def _key(config) -> str:
    return f"wsi:health:{config.family().name}:{config.pk}"


def check(config, *, refresh: bool = False) -> dict:
    """Health of one config. The vendor call is cached HEALTH_CACHE_SECONDS; local state is live."""
    cached = None if refresh else _results.get(_key(config))
    if cached is None:
        cached = _live_check(config)
        _results.set(_key(config), cached, timeout=settings.HEALTH_CACHE_SECONDS)
    family = config.family()
    breaker = CircuitBreaker(family.name, config.organisation_id, config.provider)
    return {
        **cached,
        "provider": config.provider,
        "organisation": config.organisation.slug,
        "enabled": config.enabled,
        "status": config.status,
        "status_reason": config.status_reason,
        "last_success_at": config.last_success_at,
        "last_error_at": config.last_error_at,
        "last_error": config.last_error,
        "queue_depth": queue_depth(family, config.organisation_id, config.provider),
        "circuit_state": str(breaker.state()),
    }


def _live_check(config) -> dict:
    provider = config.get_provider()
    try:
        result = provider.check_health() or HealthResult(ok=True, message="ok")
    except IntegrationError as exc:
        result = HealthResult(
            ok=False, message=redact(exc.message, provider.secrets.values_to_hide()), http_status=exc.status
        )
    except NotImplementedError:
        result = HealthResult(ok=False, message=f"{config.provider} has no health check")
    except Exception as exc:  # a provider bug must show as unhealthy, not break the admin page
        logger.exception("health.check_crashed provider=%s config=%s", config.provider, config.pk)
        result = HealthResult(ok=False, message=f"{config.provider}: health check failed ({type(exc).__name__})")
    return {"ok": result.ok, "message": result.message, "http_status": result.http_status, "checked_at": timezone.now()}


def forget(config) -> None:
    _results.delete(_key(config))
