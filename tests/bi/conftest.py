"""BI fixtures: rollups with known figures, a frozen 'now', configs for each vendor, recorded payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bi.models import RefreshState
from tests.monitoring.conftest import assisted, make_rollup  # noqa: F401  (rollups with known figures)
from tests.services.conftest import start_worker, worker_queue  # noqa: F401  (real-worker fixtures)

FIXTURES = Path(__file__).parent / "fixtures"

# Saturday 13 June 2026 (peak season, BST): 15:05 UTC is 16:05 in London; hours up to 15:00 UTC count.
NOW = datetime(2026, 6, 13, 15, 5, tzinfo=UTC)

POWERBI_API = "https://api.powerbi.com/v1.0/myorg"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TOKEN_URL = f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"
WORKSPACE = "f089354e-8366-4e18-aea3-4cb4a3a50b48"
TABLEAU_SERVER = "https://10ay.online.tableau.com"
TABLEAU_API = f"{TABLEAU_SERVER}/api/3.24"
LOOKER = "https://wedsync.cloud.looker.com"
PBI_SECRETS = {"client_id": "6731de76-14a6-49ae-97bc-6eba6914391e", "client_secret": "pbi-client-s3cret-0123456789"}
PAT_SECRET = "pat-s3cret-Q7dHxLwq0123456789abc"
LOOKER_SECRETS = {"client_id": "looker-client-id-0123", "client_secret": "looker-client-s3cret-0123456789"}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def sync(config, at=NOW):
    """The family's sync of one configuration at a frozen instant (as beat or `manage.py sync bi` runs it)."""
    from freezegun import freeze_time

    from bi.family import FAMILY

    with freeze_time(at):
        return FAMILY.sync_handler(config, now=at)


def fixture(vendor: str, name: str):
    """A recorded vendor payload (tests/bi/fixtures/<vendor>/<name>.json)."""
    return json.loads((FIXTURES / vendor / f"{name}.json").read_text())


@pytest.fixture
def june(organisation, make_organisation, make_rollup, assisted):  # noqa: F811 (fixtures imported above)
    """Two organisations' usage on Friday 12 and Saturday 13 June 2026 (see test_metrics for the sums)."""
    other = make_organisation(slug="bloom", name="Bloom Florals", vendor_type="florist")
    make_rollup(organisation, utc(2026, 6, 12, 10), requests=40, errors=2, cost_gbp=Decimal("0.9875"),
                quality_sum=30.0, quality_count=38)  # fmt: skip
    make_rollup(organisation, utc(2026, 6, 12, 10), feature="content_writing", requests=10, errors=0,
                cost_gbp=Decimal("0.5"), quality_sum=0, quality_count=0, latency_sum_ms=9_000)  # fmt: skip
    # Friday 19:00 BST: in the wedding-day window, and down (60 % of requests failed)
    make_rollup(organisation, utc(2026, 6, 12, 18), requests=20, errors=12, cost_gbp=Decimal("0.25"),
                quality_sum=6.0, quality_count=8, latency_sum_ms=20_000)  # fmt: skip
    make_rollup(organisation, utc(2026, 6, 13, 9), requests=30, errors=0, cost_gbp=Decimal("0.6"),
                quality_sum=27.0, quality_count=30, latency_sum_ms=24_000)  # fmt: skip
    make_rollup(other, utc(2026, 6, 13, 10), requests=10, errors=1, cost_gbp=Decimal("0.1"),
                quality_sum=9.0, quality_count=10, latency_sum_ms=10_000)  # fmt: skip
    assisted(organisation, utc(2026, 6, 12, 10), "w1", "w2")
    assisted(organisation, utc(2026, 6, 12, 18), "w2", "w3")
    assisted(organisation, utc(2026, 6, 13, 9), "w3")
    return organisation, other


@pytest.fixture
def fresh_refresh(db):
    """The metrics were refreshed a moment ago (the 'stale' gate passes) — for provider tests."""
    from django.utils import timezone

    RefreshState.objects.update_or_create(pk=1, defaults={"as_of": timezone.now(), "refreshed_at": timezone.now()})


@pytest.fixture
def powerbi_config(make_config, organisation):
    def make(**settings):
        settings = {"tenant_id": TENANT, "workspace_id": WORKSPACE, **settings}
        return make_config("bi", organisation, "powerbi", settings=settings, secrets=dict(PBI_SECRETS))

    return make


@pytest.fixture
def tableau_config(make_config, organisation):
    def make(**settings):
        settings = {
            "server_url": TABLEAU_SERVER, "api_version": "3.24", "site_content_url": "wedsync",
            "project_id": "1f2f3f4f-5f6f-7f8f-9f0f-a1b2c3d4e5f6", "pat_name": "wedsync-export", **settings,
        }  # fmt: skip
        return make_config("bi", organisation, "tableau", settings=settings, secrets={"pat_secret": PAT_SECRET})

    return make


@pytest.fixture
def looker_config(make_config, organisation):
    def make(**settings):
        settings = {"base_url": LOOKER, **settings}
        return make_config("bi", organisation, "looker", settings=settings, secrets=dict(LOOKER_SECRETS))

    return make
