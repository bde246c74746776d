"""The SSRF guard: every configurable outbound URL, checked on save, on send and on every redirect."""

from __future__ import annotations

import socket

import pytest
import requests
import responses

from wedsync_integrations.integrations.errors import UnsafeURLError
from wedsync_integrations.integrations.registry import BaseSettings
from wedsync_integrations.integrations.ssrf import GuardedSession, check_outbound_url


@pytest.fixture
def no_allowlist(settings):
    settings.OUTBOUND_URL_ALLOWLIST = []


@pytest.fixture
def dns(monkeypatch):
    """Fake DNS: name -> list of addresses; unknown names fail like NXDOMAIN. Records lookups."""
    table: dict[str, list[str]] = {}
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        lookups.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in table[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    table["lookups"] = lookups  # type: ignore[assignment]
    return table


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com/v1",  # plain http to a public host
        "ftp://api.example.com/",
        "file:///etc/passwd",
        "gopher://api.example.com/",
        "http://api.datadoghq.com/api/v2/series",  # a vendor host still needs https
    ],
)
def test_only_https_is_allowed(url, no_allowlist, dns):
    dns["api.example.com"] = ["93.184.216.34"]
    with pytest.raises(UnsafeURLError):
        check_outbound_url(url)


@pytest.mark.parametrize(
    "host",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.10",
        "127.0.0.1",
        "127.1.2.3",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "[::1]",
        "[::]",
        "[fe80::1]",
        "[fc00::1]",
        "[::ffff:127.0.0.1]",  # IPv4-mapped loopback
        "[::ffff:10.0.0.1]",
        "[::ffff:169.254.169.254]",
    ],
)
def test_private_loopback_link_local_mapped_and_unspecified_addresses_are_refused(host, no_allowlist):
    with pytest.raises(UnsafeURLError, match="private, loopback or link-local"):
        check_outbound_url(f"https://{host}/hook")


@pytest.mark.parametrize(
    "address",
    [
        "2002:7f00:1::",  # 6to4 of 127.0.0.1: a host with a 6to4 route hands it to IPv4 loopback
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254, the cloud metadata service
        "2002:a00:1::",  # 6to4 of 10.0.0.1
    ],
)
def test_ipv6_forms_embedding_a_private_ipv4_address_are_refused(address, no_allowlist, dns):
    # 2002::/16 counts as global to Python, whatever IPv4 address it wraps: literal and resolved
    with pytest.raises(UnsafeURLError, match="private, loopback or link-local"):
        check_outbound_url(f"https://[{address}]/hook")
    dns["sixtofour.example.com"] = [address]
    with pytest.raises(UnsafeURLError, match="private, loopback or link-local"):
        check_outbound_url("https://sixtofour.example.com/hook")
    dns["public.example.com"] = ["2002:5db8:d822::1"]  # 6to4 of a public address stays usable
    check_outbound_url("https://public.example.com/hook")


def test_a_public_address_is_allowed(no_allowlist):
    check_outbound_url("https://93.184.216.34/hook")
    check_outbound_url("https://[2606:2800:220:1:248:1893:25c8:1946]/hook")


def test_a_hostname_resolving_to_a_private_address_is_refused(no_allowlist, dns):
    dns["internal.example.com"] = ["10.1.2.3"]
    dns["sneaky.example.com"] = ["93.184.216.34", "127.0.0.1"]  # one bad answer is enough
    dns["public.example.com"] = ["93.184.216.34"]
    with pytest.raises(UnsafeURLError, match="'internal.example.com' resolves to a private"):
        check_outbound_url("https://internal.example.com/x")
    with pytest.raises(UnsafeURLError):
        check_outbound_url("https://sneaky.example.com/x")
    check_outbound_url("https://public.example.com/x")


def test_an_unresolvable_host_is_refused(no_allowlist, dns):
    with pytest.raises(UnsafeURLError, match="cannot be resolved"):
        check_outbound_url("https://nxdomain.example.com/")


def test_vendor_hosts_are_trusted_without_a_dns_lookup_but_lookalikes_are_not(no_allowlist, dns):
    check_outbound_url("https://api.datadoghq.eu/api/v2/series")
    check_outbound_url("https://hooks.slack.com/services/T/B/X")
    check_outbound_url("https://events.pagerduty.com/v2/enqueue")
    assert dns["lookups"] == []
    dns["evildatadoghq.com"] = ["10.0.0.9"]
    dns["datadoghq.com.attacker.net"] = ["10.0.0.9"]
    with pytest.raises(UnsafeURLError):
        check_outbound_url("https://evildatadoghq.com/")  # no dot boundary: not a vendor host
    with pytest.raises(UnsafeURLError):
        check_outbound_url("https://datadoghq.com.attacker.net/")


def test_the_allowlist_admits_a_private_host_and_plain_http_for_it_only(settings, dns):
    settings.OUTBOUND_URL_ALLOWLIST = ["127.0.0.1", "Sandbox.Internal "]
    dns["sandbox.internal"] = ["10.9.9.9"]
    check_outbound_url("http://127.0.0.1:8900/datadog")
    check_outbound_url("http://sandbox.internal/slack")
    check_outbound_url("https://sandbox.internal/slack")
    with pytest.raises(UnsafeURLError):
        check_outbound_url("http://127.0.0.2:8900/datadog")


def test_credentials_in_the_url_are_refused_and_messages_never_show_path_or_query(no_allowlist):
    with pytest.raises(UnsafeURLError, match="must not carry credentials") as caught:
        check_outbound_url("https://user:hunter22@93.184.216.34/hook")
    assert "hunter22" not in str(caught.value)
    with pytest.raises(UnsafeURLError) as caught:
        check_outbound_url("https://10.0.0.1/services/SECRET-PATH?token=SECRET-QUERY")
    assert "SECRET" not in str(caught.value)


@pytest.mark.parametrize("url", ["https://", "https://[::1/x", "https://host:notaport/", "not a url"])
def test_malformed_urls_are_refused(url, no_allowlist):
    with pytest.raises(UnsafeURLError):
        check_outbound_url(url)


def test_a_configured_base_url_is_checked_when_settings_are_validated(no_allowlist):
    serializer = BaseSettings(data={"base_url": "https://169.254.169.254/latest"})
    assert not serializer.is_valid()
    assert "link-local" in str(serializer.errors["base_url"][0])
    assert BaseSettings(data={"base_url": "https://api.datadoghq.eu"}).is_valid()


@responses.activate
def test_a_redirect_to_a_private_address_is_rechecked_and_refused(no_allowlist, dns):
    dns["public.example.com"] = ["93.184.216.34"]
    responses.get("https://public.example.com/hook", status=302, headers={"Location": "https://10.0.0.5/admin"})
    inner = responses.get("https://10.0.0.5/admin", body="internal secrets")

    with pytest.raises(UnsafeURLError):
        GuardedSession().get("https://public.example.com/hook", allow_redirects=True, timeout=5)

    assert inner.call_count == 0  # the private address was never contacted


@responses.activate
def test_a_guarded_session_refuses_before_sending_and_follows_few_redirects(no_allowlist, dns):
    dns["public.example.com"] = ["93.184.216.34"]
    target = responses.get("https://10.0.0.5/x")
    with pytest.raises(UnsafeURLError):
        GuardedSession().get("https://10.0.0.5/x", timeout=5)
    assert target.call_count == 0

    for n in range(10):
        responses.get(f"https://public.example.com/{n}", status=302, headers={"Location": f"/{n + 1}"})
    session = GuardedSession()
    assert session.max_redirects == 3
    with pytest.raises(requests.TooManyRedirects):
        session.get("https://public.example.com/0", timeout=5)
