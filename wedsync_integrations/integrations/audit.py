"""Writing audit entries: one call, secrets never recorded."""

from __future__ import annotations

from .secrets import MASK

SECRET_CHANGE = "(changed)"


def actor_for_user(user) -> str:
    return f"admin:{user.get_username()}" if user is not None and user.is_authenticated else "system"


def record(
    family,
    *,
    actor: str,
    action: str,
    target=None,
    organisation=None,
    summary: str = "",
    changes: dict | None = None,
    user=None,
    secret_fields=(),
):
    """Append an audit entry to `family`'s audit table.

    `changes` maps field -> [old, new]; any field named in `secret_fields`, or whose name is
    'secrets', is recorded only as changed, never with values. For 'secrets' pass the names of
    the secrets that changed (a list) or a dict of them: each name is kept, each value masked.
    """
    safe_changes = {}
    for name, value in (changes or {}).items():
        if name == "secrets":
            safe_changes[name] = _secret_names_changed(value)
        elif name in secret_fields:
            safe_changes[name] = SECRET_CHANGE
        else:
            safe_changes[name] = value
    if organisation is None and target is not None:
        organisation = getattr(target, "organisation", None)
    return family.audit_model.objects.create(
        actor=actor[:150],
        user=user if user is not None and getattr(user, "is_authenticated", False) else None,
        organisation=organisation,
        action=action,
        target_type=type(target).__name__ if target is not None else "",
        target_id=str(getattr(target, "pk", "") or ""),
        summary=summary[:2000],
        changes=safe_changes,
    )


def _secret_names_changed(value):
    """'secrets' carries names (a list, as the admin and `integrations apply` pass) or a dict of
    name -> value: the names are kept, any value is masked."""
    if isinstance(value, dict):
        return dict.fromkeys(sorted(map(str, value)), MASK)
    if isinstance(value, (list, tuple, set, frozenset)):
        return dict.fromkeys(sorted(map(str, value)), SECRET_CHANGE)
    return SECRET_CHANGE
