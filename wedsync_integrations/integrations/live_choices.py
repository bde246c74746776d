"""Vendor lists for admin's configuration form (ledger accounts, tax codes, suppliers).

A provider names the settings the vendor can list (`live_choice_fields`) and reads them in
`live_choices()`. The form asks here: the answer, or why there is none, is cached briefly per
configuration, so a page view costs at most one vendor read every LIVE_CHOICES_CACHE_SECONDS and
a vendor that is down is not asked again on every view (LIVE_CHOICES_RETRY_SECONDS). Nothing
here ever raises: a failed read becomes a note, and the form falls back to a text box.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from wedsync_integrations.core.tolerant_cache import TolerantCache

from .errors import IntegrationError
from .registry import UnknownProvider

logger = logging.getLogger("wedsync.admin")
_answers = TolerantCache("integrations.live_choices_cache_unavailable", "vendor lists are read on every view")


@dataclass(frozen=True)
class LiveChoices:
    """What the vendor listed for a configuration's settings, or why it could not."""

    choices: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    problem: str = ""  # why nothing was read ("" when the read worked)
    read_at: datetime | None = None


def _key(config) -> str:
    return f"wsi:live-choices:{config.family().name}:{config.pk}:{config.provider}"


def fetch(config, *, refresh: bool = False) -> LiveChoices | None:
    """The vendor's lists for `config`'s settings; None when its provider offers none."""
    try:
        provider = config.get_provider()
    except UnknownProvider:
        return None
    if not provider.live_choice_fields:
        return None
    cached = None if refresh else _answers.get(_key(config))
    if cached is not None:
        return cached
    answer = _read(provider, refresh)
    timeout = settings.LIVE_CHOICES_RETRY_SECONDS if answer.problem else settings.LIVE_CHOICES_CACHE_SECONDS
    _answers.set(_key(config), answer, timeout=timeout)
    return answer


def forget(config) -> None:
    """After a change that may change what the vendor lists (new credentials, another ledger)."""
    _answers.delete(_key(config))


def _read(provider, refresh: bool) -> LiveChoices:
    now = timezone.now()
    try:
        listed = provider.live_choices(refresh=refresh) or {}
    except IntegrationError as exc:
        return LiveChoices(problem=provider.redact(exc.message), read_at=now)
    except Exception as exc:  # a provider bug must cost the drop-downs, never the page
        logger.exception("admin.live_choices_failed provider=%s config=%s", provider.name, provider.config.pk)
        return LiveChoices(problem=f"reading the lists failed ({type(exc).__name__})", read_at=now)
    wanted = set(provider.live_choice_fields)
    choices = {
        name: [(str(value), str(label)) for value, label in options]
        for name, options in listed.items()
        if name in wanted
    }
    return LiveChoices(choices=choices, read_at=now)
