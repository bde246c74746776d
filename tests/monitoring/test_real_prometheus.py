"""Against the real thing: a Prometheus server scrapes /metrics/ai of the running service and we
read the series back through its query API; a real Pushgateway receives our PUTs."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from monitoring.metrics import floor_hour
from monitoring.sync import sync_monitoring

from .conftest import SCRAPE_TOKEN

PROMETHEUS = shutil.which("prometheus")
PUSHGATEWAY = shutil.which("prometheus-pushgateway")
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running(cmd: list[str], ready_url: str, timeout: float = 30.0, auth: tuple[bytes, bytes] | None = None):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited: {proc.stderr.read().decode()[-2000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(ready_url, timeout=1, auth=auth).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{cmd[0]} not ready after {timeout}s")
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def poll(fn, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


@pytest.mark.skipif(not PROMETHEUS, reason="the prometheus binary is not installed (make system-deps)")
def test_a_real_prometheus_scrapes_the_tenant_endpoint(
    live_server, tmp_path, organisation, make_organisation, make_rollup, prometheus_config
):
    rival = make_organisation(slug="rival")
    prometheus_config()
    hour = floor_hour(timezone.now())  # the hour in progress counts today
    make_rollup(organisation, hour, requests=40, errors=2)
    make_rollup(rival, hour, requests=99)
    port = free_port()
    target = live_server.url.removeprefix("http://")
    (tmp_path / "prometheus.yml").write_text(
        f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: wedsync_ai
    metrics_path: /metrics/ai/acme
    authorization:
      type: Bearer
      credentials: {SCRAPE_TOKEN}
    static_configs:
      - targets: ["{target}"]
"""
    )
    cmd = [
        PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]  # fmt: skip
    api = f"http://127.0.0.1:{port}/api/v1/query"
    with running(cmd, f"http://127.0.0.1:{port}/-/ready"):

        def query(expr):
            return requests.get(api, params={"query": expr}, timeout=5).json()["data"]["result"]

        results = poll(lambda: query("wedsync_ai_requests_total"))
        up = query('up{job="wedsync_ai"}')
        failed = query("wedsync_ai_errors_total")
        rate = query("wedsync_ai_success_rate_percent")
    assert up and up[0]["value"][1] == "1"
    assert len(results) == 1, results  # only acme's series: rival's never reach acme's scrape
    (series,) = results
    assert series["value"][1] == "40"
    assert series["metric"] | {} == {
        "__name__": "wedsync_ai_requests_total", "job": "wedsync_ai", "instance": target, "org": "acme",
        "service": "ai_architecture", "env": "dev", "region": "unknown", "context": "wedding_industry",
        "season": series["metric"]["season"], "provider": "openai", "feature": "email_template", "model": "gpt-4o-mini",
    }  # fmt: skip
    assert series["metric"]["season"] in {"peak", "shoulder", "off_season"}
    assert failed[0]["value"][1] == "2" and rate[0]["value"][1] == "95"


@pytest.mark.skipif(not PUSHGATEWAY, reason="the prometheus-pushgateway binary is not installed (make system-deps)")
def test_pushes_replace_the_organisation_group_on_a_real_pushgateway(
    organisation, make_rollup, prometheus_config, settings
):
    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    config = prometheus_config(pushgateway_url=gateway)
    now = timezone.now()
    hour = floor_hour(now)
    make_rollup(organisation, hour, requests=40)
    other = make_rollup(organisation, hour, feature="content_writing", requests=5)
    cmd = [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}", "--persistence.interval=1h"]
    with running(cmd, f"{gateway}/-/ready"):
        result = sync_monitoring(config, now=now)
        assert (result.queued, result.delivered) == (1, 1)
        first = requests.get(f"{gateway}/metrics", timeout=5).text
        other.delete()
        # the next hour's push replaces the whole group: the deleted series disappears
        result = sync_monitoring(config, now=now + timedelta(hours=1))
        assert result.delivered == 1
        second = requests.get(f"{gateway}/metrics", timeout=5).text
        groups = requests.get(f"{gateway}/api/v1/metrics", timeout=5).json()["data"]

    def requests_line(text, feature):
        return [
            line
            for line in text.splitlines()
            if line.startswith("wedsync_ai_requests_total{") and f'feature="{feature}"' in line
        ]

    (line,) = requests_line(first, "email_template")
    assert 'job="wedsync_ai"' in line and 'org="acme"' in line and line.endswith(" 40")
    assert requests_line(first, "content_writing") and not requests_line(second, "content_writing")
    assert [group["labels"] for group in groups] == [{"job": "wedsync_ai", "org": "acme"}]
    assert "push_time_seconds" in groups[0]


# The gateway's --web.config.file holds a bcrypt hash (cost 4: fast to check) of this password;
# non-ASCII on purpose, to prove the Go side reads our UTF-8 basic-auth header the same way.
GATEWAY_USER, GATEWAY_PASSWORD = "wedsync-push", "s3cret: pässwörd"
GATEWAY_HASH = "$2b$04$8JhvT0TfgvMHn0MTTMijvurWyHVD0C01kdGEHXCgF5/wO43vimI6S"


@pytest.mark.skipif(not PUSHGATEWAY, reason="the prometheus-pushgateway binary is not installed (make system-deps)")
def test_a_pushgateway_with_basic_auth_takes_our_pushes_and_a_wrong_password_stops_the_config(
    tmp_path, organisation, make_rollup, make_config
):
    from wedsync_integrations.integrations.models import ConfigStatus, RetryState
    from wedsync_integrations.integrations.registry import get_family

    port = free_port()
    gateway = f"http://127.0.0.1:{port}"
    web_config = tmp_path / "web.yml"
    web_config.write_text(f"basic_auth_users:\n  {GATEWAY_USER}: {GATEWAY_HASH}\n")

    def config(password):
        settings = {"pushgateway_url": gateway, "pushgateway_username": GATEWAY_USER}
        secrets = {"bearer_token": SCRAPE_TOKEN, "pushgateway_password": password}
        return make_config("monitoring", organisation, "prometheus", settings=settings, secrets=secrets)

    now = timezone.now()
    make_rollup(organisation, floor_hour(now), requests=40)
    right = config(GATEWAY_PASSWORD)
    cmd = [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{port}", f"--web.config.file={web_config}"]
    auth = (GATEWAY_USER.encode(), GATEWAY_PASSWORD.encode())  # bytes: requests would encode str as Latin-1
    with running(cmd, f"{gateway}/-/ready", auth=auth):
        assert requests.get(f"{gateway}/metrics", timeout=5).status_code == 401  # auth is really on
        result = sync_monitoring(right, now=now)
        assert (result.queued, result.delivered) == (1, 1)
        pushed = requests.get(f"{gateway}/metrics", timeout=5, auth=auth).text
        right.delete()
        wrong = config("not-the-password")
        result = sync_monitoring(wrong, now=now)
    assert any(
        line.startswith("wedsync_ai_requests_total{") and 'org="acme"' in line and line.endswith(" 40")
        for line in pushed.splitlines()
    )
    wrong.refresh_from_db()
    item = get_family("monitoring").retry_model.objects.get(state=RetryState.PENDING)
    assert result.delivered == 0 and wrong.status == ConfigStatus.STOPPED and "HTTP 401" in wrong.status_reason
    assert item.provider == "prometheus"  # kept for when the password is fixed and the config resumed
