"""/metrics/ai under gunicorn with two workers: every worker answers the same, correct figures,
because the collector reads the database at scrape time and keeps nothing in the process."""

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection
from django.utils import timezone

from bench.common import bench_env, gunicorn
from monitoring.metrics import floor_hour

from .conftest import SCRAPE_TOKEN

pytestmark = [
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(os.environ.get("WEDSYNC_SERVICES") != "1", reason="needs PostgreSQL (WEDSYNC_SERVICES=1)"),
]


def test_two_gunicorn_workers_serve_identical_scrapes(organisation, make_organisation, make_rollup, prometheus_config):
    assert connection.vendor == "postgresql"
    prometheus_config()
    hour = floor_hour(timezone.now())
    for n in range(30):
        make_rollup(organisation, hour, feature=f"feature_{n}", requests=n + 1)
    make_rollup(make_organisation(slug="rival"), hour, requests=999)
    settings = connection.settings_dict
    url = (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    )
    env = bench_env(url, FIELD_ENCRYPTION_KEYS=",".join(os.environ["FIELD_ENCRYPTION_KEYS"].split(",")))
    with gunicorn(env, workers=2) as base:

        def scrape(_):
            response = requests.get(
                f"{base}/metrics/ai/acme",
                headers={"Authorization": f"Bearer {SCRAPE_TOKEN}", "Connection": "close"},
                timeout=10,
            )
            return response.status_code, response.text

        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(scrape, range(40)))
    assert {status for status, _ in answers} == {200}
    bodies = {body for _, body in answers}
    assert len(bodies) == 1  # the same answer whichever worker served it
    (body,) = bodies
    totals = [
        float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith("wedsync_ai_requests_total{")
    ]
    assert sum(totals) == sum(range(1, 31)) and 'org="rival"' not in body
