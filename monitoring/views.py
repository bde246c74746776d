"""/metrics/ai: the AI metric set for Prometheus, per organisation or for the whole platform.

Who may scrape what:

- An organisation: `GET /metrics/ai/<slug>` (or `/metrics/ai?org=<slug>`) with its Prometheus
  config's `bearer_token`, sent as `Authorization: Bearer <token>` or as basic auth with the slug
  as user name and the token as password (for scrapers that only do basic auth; with basic auth
  the slug may be left out of the URL). It sees only its own series.
- The platform (WedSync's own Prometheus): `Authorization: Bearer <MONITORING_SCRAPE_TOKEN>`
  on `/metrics/ai` for every active organisation, or with a slug for one.

A tenant credential is checked against the one organisation named in the request, so it can
never open another tenant's series; every failure is the same 401 (no hint whether the
organisation exists), compared in constant time. The organisation's Prometheus config must be
enabled. The format follows the scraper's Accept header (OpenMetrics or text 0.0.4), gzipped
when the scraper accepts it (Prometheus does).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hmac

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client.exposition import choose_encoder

from wedsync_integrations.tenants.models import Organisation

from .collector import AIMetricsCollector
from .models import MonitoringConfig
from .providers.prometheus import last_scrape_key, last_scrapes

PLATFORM = object()


def _unauthorised() -> HttpResponse:
    response = HttpResponse("unauthorised\n", status=401, content_type="text/plain")
    response["WWW-Authenticate"] = 'Bearer realm="wedsync-ai-metrics", Basic realm="wedsync-ai-metrics"'
    return response


def _credentials(request) -> tuple[str | None, str]:
    """(basic-auth user name or None, secret) from the Authorization header."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return None, value.strip()
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, ""
        return user, password
    return None, ""


def _same(supplied: str, expected: str) -> bool:
    return bool(supplied) and bool(expected) and hmac.compare_digest(supplied.encode(), expected.encode())


def authorise(request, slug: str | None):
    """PLATFORM, an Organisation, or None (unauthorised)."""
    user, secret = _credentials(request)
    if user is None and _same(secret, settings.MONITORING_SCRAPE_TOKEN):  # empty (the default): no platform scrape
        return PLATFORM
    if user is not None:
        if slug and slug != user:
            return None
        slug = user
    if not slug:
        return None
    config = (
        MonitoringConfig.objects.select_related("organisation")
        .filter(organisation__slug=slug, organisation__is_active=True, provider="prometheus", enabled=True)
        .first()
    )
    if config is None or not _same(secret, str(config.secrets.get("bearer_token", ""))):
        return None
    return config.organisation


@require_GET
def ai_metrics(request, org_slug: str | None = None):
    slug = org_slug or request.GET.get("org") or None
    scope = authorise(request, slug)
    if scope is None:
        return _unauthorised()
    if scope is PLATFORM:
        if slug:
            organisation = Organisation.objects.filter(slug=slug, is_active=True).first()
            if organisation is None:
                return HttpResponse(f"no active organisation {slug!r}\n", status=404, content_type="text/plain")
            ids = [organisation.pk]
        else:
            ids = None
    else:
        ids = [scope.pk]
        last_scrapes.set(last_scrape_key(scope.pk), timezone.now(), timeout=7 * 24 * 3600)
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(AIMetricsCollector(ids))
    response = HttpResponse(content_type=content_type)
    if "gzip" in request.headers.get("Accept-Encoding", "").lower():
        # Prometheus asks for gzip; a platform scrape is megabytes of very repetitive text
        body = gzip.compress(body, compresslevel=1, mtime=0)
        response["Content-Encoding"] = "gzip"
    response.content = body
    response["Vary"] = "Accept, Accept-Encoding, Authorization"
    response["Cache-Control"] = "no-store"
    return response
