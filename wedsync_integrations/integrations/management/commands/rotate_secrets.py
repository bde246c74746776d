"""`manage.py rotate_secrets [--check]`: re-encrypt every stored secret under the newest key.

Key rotation, start to finish:
  1. put the new key first: FIELD_ENCRYPTION_KEYS=NEW,OLD (every process: web, workers, beat)
  2. `manage.py rotate_secrets`        every EncryptedJSONField value is re-encrypted under NEW
  3. `manage.py rotate_secrets --check` every value decrypts, and all are under the first key
  4. drop OLD: FIELD_ENCRYPTION_KEYS=NEW

The stored ciphertext is read as text (never through the field, so no SecretBag is built) and
passed to MultiFernet.rotate; the plaintext never leaves the cryptography library. Each row is
updated only if its ciphertext is still the one read, so a concurrent edit is never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.db.models.functions import Cast

from wedsync_integrations.integrations.secrets import EncryptedJSONField, fernet

RAW = "_wsi_raw_ciphertext"


@dataclass
class FieldCounts:
    label: str
    rotated: int = 0
    current: int = 0  # --check: already under the first key
    older: int = 0  # --check: decrypts, but only with a later key
    empty: int = 0
    raced: int = 0  # changed by someone else between read and write; it was written under the new key
    failed: list = field(default_factory=list)  # primary keys whose value no key decrypts


def encrypted_fields() -> list[tuple[type[models.Model], EncryptedJSONField]]:
    """Every EncryptedJSONField of every installed concrete model."""
    found = []
    for model in apps.get_models():
        for model_field in model._meta.concrete_fields:
            if isinstance(model_field, EncryptedJSONField):
                found.append((model, model_field))
    return sorted(found, key=lambda pair: (pair[0]._meta.label, pair[1].name))


class Command(BaseCommand):
    help = "Re-encrypt every encrypted secret under the first FIELD_ENCRYPTION_KEYS key (or --check them)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="only verify that every stored value decrypts")
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, **options):
        check, batch_size = options["check"], max(1, options["batch_size"])
        try:
            fernet()  # every key must be a valid Fernet key before anything is touched
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc))
        primary = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].strip().encode())
        all_counts = []
        for model, model_field in encrypted_fields():
            counts = FieldCounts(f"{model._meta.label}.{model_field.name}")
            for batch in _batches(model, model_field, batch_size):
                if check:
                    _check_batch(batch, primary, counts)
                else:
                    _rotate_batch(model, model_field, batch, counts)
            self.stdout.write(_describe(counts, check))
            all_counts.append(counts)
        self._conclude(all_counts, check)

    def _conclude(self, all_counts: list[FieldCounts], check: bool) -> None:
        failed = sum(len(counts.failed) for counts in all_counts)
        if failed:
            raise CommandError(
                f"{failed} stored value(s) cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS "
                "(was a key removed before rotating?)"
            )
        if check and any(counts.older for counts in all_counts):
            self.stdout.write("some values are under an older key: run `manage.py rotate_secrets`")
        elif check:
            self.stdout.write("every value decrypts under the first key")
        else:
            self.stdout.write("done: every value is now under the first key")


def _batches(model, model_field, batch_size: int):
    """(pk, ciphertext) rows in primary-key order, a batch at a time, read as plain text."""
    queryset = (
        model._default_manager.order_by("pk")
        .annotate(**{RAW: Cast(model_field.name, output_field=models.TextField())})
        .values_list("pk", RAW)
    )
    last_pk = None
    while True:
        page = queryset if last_pk is None else queryset.filter(pk__gt=last_pk)
        batch = list(page[:batch_size])
        if not batch:
            return
        yield batch
        last_pk = batch[-1][0]


def _check_batch(batch, primary: Fernet, counts: FieldCounts) -> None:
    for pk, token in batch:
        if not token:
            counts.empty += 1
            continue
        try:
            primary.decrypt(token.encode())
            counts.current += 1
            continue
        except InvalidToken:
            pass
        try:
            fernet().decrypt(token.encode())
            counts.older += 1
        except InvalidToken:
            counts.failed.append(pk)


def _rotate_batch(model, model_field, batch, counts: FieldCounts) -> None:
    with transaction.atomic():
        for pk, token in batch:
            if not token:
                counts.empty += 1
                continue
            try:
                rotated = fernet().rotate(token.encode()).decode()
            except InvalidToken:
                counts.failed.append(pk)
                continue
            updated = (
                model._default_manager.filter(pk=pk)
                .annotate(**{RAW: Cast(model_field.name, output_field=models.TextField())})
                .filter(**{RAW: token})
                .update(**{model_field.name: models.Value(rotated, output_field=models.TextField())})
            )
            if updated:
                counts.rotated += 1
            else:
                counts.raced += 1  # a concurrent save re-encrypted it under the first key already


def _describe(counts: FieldCounts, check: bool) -> str:
    if check:
        parts = [f"{counts.current} under the first key", f"{counts.older} under an older key"]
    else:
        parts = [f"{counts.rotated} re-encrypted"]
        if counts.raced:
            parts.append(f"{counts.raced} changed concurrently (already under the first key)")
    parts.append(f"{counts.empty} empty")
    if counts.failed:
        shown = ", ".join(str(pk) for pk in counts.failed[:20]) + (" …" if len(counts.failed) > 20 else "")
        parts.append(f"{len(counts.failed)} cannot be decrypted (ids {shown})")
    return f"{counts.label}: " + ", ".join(parts)
