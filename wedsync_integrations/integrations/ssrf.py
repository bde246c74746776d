"""The one SSRF guard for every URL a tenant or staff member can configure.

Rules (checked when a URL is saved and again on every request, redirects included):
- https only; plain http only for hosts in OUTBOUND_URL_ALLOWLIST (the local sandbox, tests);
- no credentials in the URL;
- the host must not be, or resolve to, a private, loopback, link-local, multicast, reserved or
  unspecified address (nor an IPv6 form wrapping one: IPv4-mapped, 6to4, Teredo), unless the
  host is in OUTBOUND_URL_ALLOWLIST;
- a vendor's own documented API hosts (VENDOR_HOST_SUFFIXES) are public by definition and are
  not resolved, so an offline test or a DNS hiccup cannot block them. They still need https.

The check resolves names once per request. A DNS answer that changes between the check and
the connection (rebinding) is not covered; production egress should also pass a proxy that
refuses private ranges (see README).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings

from .errors import UnsafeURLError

# Documented public API hosts of the vendors we ship (suffix match on a dot boundary).
VENDOR_HOST_SUFFIXES = (
    "datadoghq.com",
    "datadoghq.eu",
    "ddog-gov.com",
    "newrelic.com",
    "nr-data.net",
    "hooks.slack.com",
    "hooks.zapier.com",
    "slack.com",
    "api.twilio.com",
    "events.pagerduty.com",
    "pagerduty.com",
    "workspace.vsco.co",
    "tave.io",
    "lightbluesoftware.com",
    "intuit.com",
    "xero.com",
    "freshbooks.com",
    "powerbi.com",
    "microsoftonline.com",
    "online.tableau.com",
    "looker.com",
)


def _allowlist() -> set[str]:
    return {host.strip().lower() for host in settings.OUTBOUND_URL_ALLOWLIST if host.strip()}


def _is_vendor_host(host: str) -> bool:
    return any(host == suffix or host.endswith("." + suffix) for suffix in VENDOR_HOST_SUFFIXES)


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        # 6to4 (2002:aabb:ccdd::) and Teredo addresses carry an IPv4 address, and Python counts
        # 6to4 as global whatever it wraps, while a host with a 6to4 route delivers it to that
        # IPv4 address (2002:7f00:1:: is 127.0.0.1): the wrapped address must be public too.
        candidates += [ip.sixtofour, ip.teredo[1] if ip.teredo else None]
    return all(
        candidate.is_global and not (candidate.is_multicast or candidate.is_reserved or candidate.is_unspecified)
        for candidate in candidates
        if candidate is not None
    )


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeURLError(f"outbound host {host!r} cannot be resolved") from exc
    return [info[4][0] for info in infos]


def check_outbound_url(url: str) -> None:
    """Raise UnsafeURLError unless `url` may be called. Messages name the host, never a secret."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError("outbound URL is malformed") from exc
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeURLError("outbound URL has no host")
    if parts.username or parts.password:
        raise UnsafeURLError(f"outbound URL for {host!r} must not carry credentials")
    allowlisted = host in _allowlist()
    if parts.scheme != "https" and not (parts.scheme == "http" and allowlisted):
        raise UnsafeURLError(f"outbound URL for {host!r} must use https")
    if allowlisted or _is_vendor_host(host):
        return
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = _resolve(host, port)
    blocked = [address for address in addresses if not _is_public(address)]
    if blocked:
        raise UnsafeURLError(
            f"outbound host {host!r} resolves to a private, loopback or link-local address; "
            "add it to OUTBOUND_URL_ALLOWLIST only if that is intended"
        )


class GuardedSession(requests.Session):
    """A Session that runs the guard on every request it sends, including each redirect hop."""

    def __init__(self):
        super().__init__()
        self.max_redirects = 3  # Session.__init__ sets 30 on the instance, so a class attribute has no effect

    def send(self, request, **kwargs):
        check_outbound_url(request.url)
        return super().send(request, **kwargs)
