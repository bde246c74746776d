"""Operational endpoints: / (where to go), /healthz (process up), /readyz (dependencies reachable),
/metrics."""

from __future__ import annotations

import hmac
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from . import metrics

logger = logging.getLogger("wedsync.health")


@require_GET
def home(request):
    """Staff land on the operations console; anyone else gets a plain page saying what this is."""
    if request.user.is_active and request.user.is_staff:
        return redirect("console:dashboard")
    return render(request, "core/landing.html")


@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_broker() -> None:
    from wedsync_integrations.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _check_cache() -> None:
    cache.set("wsi:readyz", 1, timeout=10)
    if cache.get("wsi:readyz") != 1:
        raise RuntimeError("cache did not return what was written")


READINESS_CHECKS = {"database": _check_database, "broker": _check_broker, "cache": _check_cache}


@require_GET
def readyz(request):
    results, ready = {}, True
    for name, check in READINESS_CHECKS.items():
        started = time.monotonic()
        try:
            check()
            results[name] = {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}
        except Exception as exc:  # report which dependency is down, not its credentials
            logger.warning("readyz.%s failed: %s", name, type(exc).__name__)
            results[name] = {"ok": False, "error": type(exc).__name__}
            ready = False
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": results}, status=200 if ready else 503
    )


@require_GET
def metrics_view(request):
    token = settings.METRICS_BEARER_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(supplied.encode(), token.encode()):
            return HttpResponse("unauthorised\n", status=401, content_type="text/plain")
    return HttpResponse(metrics.render(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
