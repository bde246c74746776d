"""Per (organisation, provider) health: a live check cached for five minutes, plus local state,
and the truthful status word (states.describe_status) from the stored status and the queue."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Count, IntegerField, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from wedsync_integrations.core.tolerant_cache import TolerantCache

from .breaker import CircuitBreaker
from .errors import IntegrationError
from .outbox import queue_depth
from .registry import HealthResult
from .secrets import redact
from .states import ConfigStatus, QueueFacts, RetryState, StatusWord, Tone, describe_status

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
        "status_text": status_word(config).text,
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


# -- the truthful status word ------------------------------------------------------------------------
# An item "retrying" is pending after at least one failed attempt: the outbox sends it again by
# itself while the configuration is usable. Dead items wait for a person's "replay".
_RETRYING = Q(state=RetryState.PENDING, attempts__gt=0)
_DEAD = Q(state=RetryState.DEAD)


def queue_facts(config) -> QueueFacts:
    """The queue facts of one configuration (one query)."""
    family = config.family()
    items = family.retry_model.objects.filter(organisation_id=config.organisation_id, provider=config.provider)
    facts = items.aggregate(
        retrying=Count("id", filter=_RETRYING),
        next_retry_at=Min("next_attempt_at", filter=_RETRYING),
        dead=Count("id", filter=_DEAD),
    )
    return QueueFacts(**facts)


def status_word(config, facts: QueueFacts | None = None) -> StatusWord:
    """What a person reads about `config`: stored status + queue (see states.describe_status)."""
    return describe_status(
        status=config.status,
        reason=config.status_reason,
        credential_status=config.credential_status,
        enabled=config.enabled,
        queue=facts if facts is not None else queue_facts(config),
    )


def with_queue_facts(queryset, family):
    """Configurations annotated with their queue facts (`_retrying`, `_next_retry_at`, `_dead`,
    `_queue_depth`: pending items), one subquery each, for lists of many: read them back with
    `annotated_facts(config)`."""

    def per_config(expression, condition, output_field):
        rows = (
            family.retry_model.objects.filter(condition, organisation_id=OuterRef("organisation_id"),
                                              provider=OuterRef("provider"))
            .order_by().values("provider").annotate(value=expression).values("value")
        )  # fmt: skip
        return Subquery(rows, output_field=output_field)

    count, moment = IntegerField(), family.retry_model._meta.get_field("next_attempt_at")
    return queryset.annotate(
        _queue_depth=Coalesce(per_config(Count("id"), Q(state=RetryState.PENDING), count), 0),
        _retrying=Coalesce(per_config(Count("id"), _RETRYING, count), 0),
        _dead=Coalesce(per_config(Count("id"), _DEAD, count), 0),
        _next_retry_at=per_config(Min("next_attempt_at"), _RETRYING, moment),
    )


def annotated_facts(config) -> QueueFacts:
    return QueueFacts(retrying=config._retrying, next_retry_at=config._next_retry_at, dead=config._dead)


def of_tone(tone: str) -> Q:
    """Configurations annotated by with_queue_facts() whose status word has `tone`: the same
    rules as states.describe_status, as a filter the database runs."""
    usable = Q(enabled=True) & ~Q(status=ConfigStatus.STOPPED)
    calm = usable & Q(_dead=0)
    return {
        Tone.OFF: Q(enabled=False),
        Tone.ACTION: Q(enabled=True) & (Q(status=ConfigStatus.STOPPED) | Q(_dead__gt=0)
                                        | Q(status=ConfigStatus.FAILING, _retrying=0)),  # fmt: skip
        Tone.WAITING: calm & Q(_retrying__gt=0),
        Tone.OK: calm & Q(_retrying=0) & ~Q(status=ConfigStatus.FAILING),
    }[tone]
