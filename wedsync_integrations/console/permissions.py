"""Who may see and press what on the console's pages: asked of the registered model admins
themselves, so a page never offers a button its endpoint would refuse (and the endpoints check
again)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.auth import get_permission_codename
from django.urls import reverse

from wedsync_integrations.integrations.registry import Family, families
from wedsync_integrations.integrations.states import ConfigStatus


@dataclass(frozen=True)
class FamilyPermissions:
    view: bool  # sees the family's configurations, and may test them (a check only reads)
    change: bool  # may resume a stopped configuration
    replay: bool  # may replay dead items (the retry queue's change permission)


def family_permissions(request, family: Family) -> FamilyPermissions:
    config_admin = model_admin(family.config_model)
    retry_admin = model_admin(family.retry_model)
    if config_admin is None:  # not on this admin site: fall back to the plain permissions
        view = _has_model_perm(request.user, family.config_model, "view") or _has_model_perm(
            request.user, family.config_model, "change"
        )
        change = _has_model_perm(request.user, family.config_model, "change")
    else:
        view, change = config_admin.has_view_or_change_permission(request), config_admin.has_change_permission(request)
    replay = bool(retry_admin is not None and retry_admin.has_replay_permission(request))
    return FamilyPermissions(view=view, change=change, replay=view and replay)


VisibleFamilies = list[tuple[Family, FamilyPermissions]]


def visible_families(request) -> VisibleFamilies:
    """The families whose configurations this person may see (the others are simply left out)."""
    allowed = [(family, family_permissions(request, family)) for family in families()]
    return [(family, permissions) for family, permissions in allowed if permissions.view]


def config_url(config, verb: str) -> str:
    """The configuration admin's page ("change") or one-configuration button (test, resume, replay)."""
    opts = config._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{verb}", args=[config.pk])


def buttons(config, permissions: FamilyPermissions, *, dead: int) -> dict[str, str]:
    """The buttons a configuration's row offers this person, as {verb: URL to POST to}: Test
    always (it only reads), Resume when it is stopped (change permission), Replay when it holds
    dead items (the retry queue's replay permission). The endpoints check the same again."""
    offered = {"test": config_url(config, "test")}
    if config.status == ConfigStatus.STOPPED and permissions.change:
        offered["resume"] = config_url(config, "resume")
    if dead and permissions.replay:
        offered["replay"] = config_url(config, "replay")
    return offered


def may_see(request, model) -> bool:
    """View (or change) permission on `model`, as its admin decides."""
    found = model_admin(model)
    if found is None:
        return _has_model_perm(request.user, model, "view") or _has_model_perm(request.user, model, "change")
    return found.has_view_or_change_permission(request)


def model_admin(model):
    try:
        return admin.site.get_model_admin(model)
    except NotRegistered:
        return None


def _has_model_perm(user, model, action: str) -> bool:
    opts = model._meta
    return user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
