"""The embedded default's local files, prepared by the entry points, never by importing settings.

With nothing configured the project keeps its state under var/ (WEDSYNC_VAR_DIR): the SQLite
database, the file broker's folders, Celery's result files, collected static files, and two
per-checkout secrets (Django's SECRET_KEY and the Fernet key that encrypts stored secrets).
`manage.py` (every command, `make demo` and `make test` included) calls prepare() before Django
starts; settings.py only reads what is here and says what to run when it is missing. Production
never uses these files: it must receive its secrets from the environment.

Deliberately free of Django settings: it runs before they exist.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SECRET_KEY_FILE = "secret_key"
ENCRYPTION_KEY_FILE = "field_encryption_key"
FOLDERS = ("static", "cache", "celery-results", "broker/queue", "broker/processed", "broker/control")


def var_dir() -> Path:
    return Path(os.environ.get("WEDSYNC_VAR_DIR") or BASE_DIR / "var")


def prepare(directory: Path | None = None) -> Path:
    """Create var/, its folders and the two local secrets where they are missing. Idempotent;
    existing secrets are never replaced (the encryption key decrypts what is stored)."""
    directory = directory or var_dir()
    for folder in FOLDERS:
        (directory / folder).mkdir(parents=True, exist_ok=True)
    _secret_file(directory / SECRET_KEY_FILE, lambda: "wsi-" + secrets.token_urlsafe(48))
    _secret_file(directory / ENCRYPTION_KEY_FILE, _new_fernet_key)
    return directory


def read_secret(name: str) -> str | None:
    path = var_dir() / name
    return path.read_text().strip() if path.exists() else None


def _new_fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _secret_file(path: Path, generate) -> None:
    if path.exists():
        return
    # created private from the start: never world-readable, not even for a moment
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(generate())
