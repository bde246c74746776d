"""Recorded vendor payloads, kept beside each family's tests as Zulip keeps fixtures/ per
integration: tests/<family>/fixtures/<vendor>/<name>.json (or .txt / .form for non-JSON bodies).
Each file is a vendor's published example (its documentation or API reference), adapted only
where the example needed our ids; the vendor docs pages are named in docs/vendors/<vendor>.md."""

from __future__ import annotations

import json
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def fixture_path(family: str, vendor: str, name: str) -> Path:
    matches = sorted((TESTS / family / "fixtures" / vendor).glob(f"{name}.*"))
    if len(matches) != 1:
        raise FileNotFoundError(f"tests/{family}/fixtures/{vendor}/{name}.* names {len(matches)} files")
    return matches[0]


def load(family: str, vendor: str, name: str):
    """The fixture's content: parsed JSON for .json, text otherwise."""
    path = fixture_path(family, vendor, name)
    return json.loads(path.read_text()) if path.suffix == ".json" else path.read_text()


def raw(family: str, vendor: str, name: str) -> bytes:
    """The fixture byte for byte (what a signature covers)."""
    return fixture_path(family, vendor, name).read_bytes().rstrip(b"\n")
