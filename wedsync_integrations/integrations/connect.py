"""Connecting a configuration to its vendor with OAuth 2.0 (the admin's "Connect to <vendor>").

    POST /admin/<app>/<config>/<pk>/connect/   start: state + PKCE verifier kept in the staff
                                               member's session, redirect to the vendor's page
    GET  /integrations/oauth/callback/         the vendor sends the browser back here (the
                                               redirect URI registered with the vendor:
                                               PUBLIC_BASE_URL + this path)
    GET/POST /integrations/oauth/choose/<ref>/ the consent covered several ledgers: staff pick one

The `state` is single-use, expires after STATE_MAX_AGE, and is bound to the session and user
that started the connection and to the configuration (RFC 6749 §10.12): a callback whose state
is missing, unknown, reused, expired or someone else's changes nothing and says why. So does a
vendor's refusal (`error=access_denied`). Tokens never touch the session in clear: a token
waiting for the ledger choice is kept there encrypted, like every secret.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from . import audit, health
from .credentials import ConnectedAccount, IssuedToken, new_code_verifier, new_state, store_connection, use_unsaved
from .errors import IntegrationError
from .models import ConfigStatus, CredentialStatus
from .outbox import resume_config
from .registry import UnknownFamily, get_family
from .secrets import decrypt_json, encrypt_json

logger = logging.getLogger("wedsync.connect")

SESSION_KEY = "wsi_oauth_pending"
CHOICE_KEY = "wsi_oauth_choice"
STATE_MAX_AGE = 600  # seconds; the vendors' codes live 5-10 minutes


def redirect_uri() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("integrations:oauth-callback")


def change_page(config) -> str:
    opts = type(config)._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[config.pk])


# -- start ---------------------------------------------------------------------------------------------
def start(request: HttpRequest, config) -> HttpResponse:
    """Send the staff member to the vendor's consent page (the caller checked the permission)."""
    provider = config.get_provider()
    scheme = provider.credentials
    if scheme is None or not scheme.connectable:
        messages.error(request, f"{provider.label} is not connected with OAuth: its credentials are typed in.")
        return HttpResponseRedirect(change_page(config))
    state, verifier = new_state(), new_code_verifier()
    try:
        url = scheme.authorization_url(provider, redirect_uri=redirect_uri(), state=state, code_verifier=verifier)
    except IntegrationError as exc:  # e.g. the client id is not set yet
        messages.error(request, f"Cannot connect yet: {provider.redact(exc.message)}")
        return HttpResponseRedirect(change_page(config))
    pending = request.session.get(SESSION_KEY, {})
    pending = {key: value for key, value in pending.items() if time.time() - value["at"] < STATE_MAX_AGE}
    pending[state] = {
        "family": config.family().name,
        "config": config.pk,
        "verifier": verifier,
        "user": request.user.pk,
        "at": time.time(),
    }
    request.session[SESSION_KEY] = pending
    audit.record(
        config.family(), actor=audit.actor_for_user(request.user), user=request.user, action="connect_started",
        target=config, summary=f"sent to {provider.label} to connect",
    )  # fmt: skip
    return HttpResponseRedirect(url)


# -- callback -------------------------------------------------------------------------------------------
@dataclass
class _Pending:
    config: object
    verifier: str


@require_GET
@staff_member_required
def callback(request: HttpRequest) -> HttpResponse:
    pending, problem = _claim_state(request)
    if problem:
        messages.error(request, problem)
        return HttpResponseRedirect(pending and change_page(pending.config) or reverse("admin:index"))
    config = pending.config
    provider = config.get_provider()
    if request.GET.get("error"):
        return _refused(request, config, provider)
    code = request.GET.get("code", "")
    if not code:
        messages.error(request, f"{provider.label} sent no authorization code back; nothing was changed.")
        return HttpResponseRedirect(change_page(config))
    try:
        token = provider.credentials.exchange_code(
            provider, code=code, redirect_uri=redirect_uri(), code_verifier=pending.verifier
        )
        use_unsaved(config, token)  # the ledger lookup below calls the vendor with the new token
        accounts = provider.connected_account(token, _callback_params(request))
    except IntegrationError as exc:
        reason = provider.redact(exc.message)
        logger.warning("connect.failed provider=%s config=%s: %s", provider.name, config.pk, reason)
        messages.error(request, f"Connecting to {provider.label} failed; nothing was changed: {reason}")
        return HttpResponseRedirect(change_page(config))
    accounts = accounts if isinstance(accounts, list) else [accounts]
    if not accounts:
        messages.error(request, f"{provider.label} gave access to no ledger; nothing was changed.")
        return HttpResponseRedirect(change_page(config))
    if len(accounts) == 1:
        return _connected(request, config, token, accounts[0])
    return _ask_which(request, config, token, accounts)


def _claim_state(request: HttpRequest) -> tuple[_Pending | None, str]:
    """The pending connection this callback answers (single use), or why it answers none."""
    state = request.GET.get("state", "")
    entry = request.session.get(SESSION_KEY, {}).get(state) if state else None
    if entry is not None:
        remaining = dict(request.session[SESSION_KEY])
        remaining.pop(state)
        request.session[SESSION_KEY] = remaining
    if entry is None:
        return None, (
            "This connection attempt does not match one started in your session (its state is missing, "
            "unknown or already used); nothing was changed. Start again from the configuration page."
        )
    config = _config(entry["family"], entry["config"])
    if config is None:
        return None, "The configuration being connected no longer exists; nothing was changed."
    pending = _Pending(config=config, verifier=entry["verifier"])
    if entry["user"] != request.user.pk:
        return pending, "This connection was started by another staff member; nothing was changed."
    if time.time() - entry["at"] > STATE_MAX_AGE:
        return pending, "This connection attempt expired (over 10 minutes); nothing was changed. Start again."
    if not _may_change(request.user, config):
        raise PermissionDenied
    return pending, ""


def _config(family_name: str, pk):
    try:
        family = get_family(family_name)
    except UnknownFamily:
        return None
    return family.config_model.objects.select_related("organisation").filter(pk=pk).first()


def _may_change(user, config) -> bool:
    opts = type(config)._meta
    return user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


def _callback_params(request: HttpRequest) -> dict[str, str]:
    return {key: value for key, value in request.GET.items() if key not in ("code", "state")}


def _refused(request: HttpRequest, config, provider) -> HttpResponse:
    error = request.GET.get("error", "")[:100]
    description = request.GET.get("error_description", "")[:300]
    audit.record(
        config.family(), actor=audit.actor_for_user(request.user), user=request.user, action="connect_refused",
        target=config, summary=f"{provider.label} refused: {error}",
    )  # fmt: skip
    reason = f"{error}: {description}" if description else error
    messages.error(request, f"{provider.label} did not connect ({reason}); nothing was changed.")
    return HttpResponseRedirect(change_page(config))


def _connected(request: HttpRequest, config, token: IssuedToken, account: ConnectedAccount) -> HttpResponse:
    family = config.family()
    reconnecting = config.credential_status == CredentialStatus.RECONNECT and config.status == ConfigStatus.STOPPED
    changed = store_connection(config, token, account, actor=audit.actor_for_user(request.user))
    health.forget(config)
    note = ""
    if reconnecting:
        # the stop was the lost grant, which this consent replaces: carry on with what was held
        resume_config(config)
        note = " It was stopped for want of this connection and has been resumed: held items go out now."
    audit.record(
        family, actor=audit.actor_for_user(request.user), user=request.user, action="connected", target=config,
        changes={"settings": changed} if changed else {},
        summary=f"connected to {account.name}" + (" and resumed" if reconnecting else ""),
    )  # fmt: skip
    messages.success(request, f"Connected to {account.name}.{note}")
    return HttpResponseRedirect(change_page(config))


# -- choosing among several ledgers -----------------------------------------------------------------------
def _ask_which(request: HttpRequest, config, token: IssuedToken, accounts: list[ConnectedAccount]) -> HttpResponse:
    ref = new_state()
    request.session[CHOICE_KEY] = {
        "ref": ref,
        "family": config.family().name,
        "config": config.pk,
        "user": request.user.pk,
        "at": time.time(),
        "token": encrypt_json(token.stored()),
        "accounts": [{"id": a.id, "name": a.name, "settings": a.settings} for a in accounts],
    }
    return HttpResponseRedirect(reverse("integrations:oauth-choose", args=[ref]))


@require_http_methods(["GET", "POST"])
@staff_member_required
def choose(request: HttpRequest, ref: str) -> HttpResponse:
    entry = request.session.get(CHOICE_KEY)
    expired = not entry or time.time() - entry["at"] > STATE_MAX_AGE
    if expired or entry["ref"] != ref or entry["user"] != request.user.pk:
        messages.error(request, "This ledger choice is unknown or expired; nothing was changed. Connect again.")
        return HttpResponseRedirect(reverse("admin:index"))
    config = _config(entry["family"], entry["config"])
    if config is None or not _may_change(request.user, config):
        raise PermissionDenied
    accounts = [ConnectedAccount(a["id"], a["name"], a["settings"]) for a in entry["accounts"]]
    if request.method == "POST":
        chosen = next((a for a in accounts if a.id == request.POST.get("account")), None)
        if chosen is not None:
            del request.session[CHOICE_KEY]
            token = IssuedToken.from_stored(decrypt_json(entry["token"]))
            return _connected(request, config, token, chosen)
        messages.error(request, "Choose one of the ledgers listed.")
    provider = config.get_provider()
    return render(
        request,
        "admin/integrations/choose_account.html",
        {"config": config, "provider": provider, "accounts": accounts, "title": f"Choose the {provider.label} ledger"},
    )
