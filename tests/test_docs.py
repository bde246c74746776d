"""The project documents itself: code cites the vendor and family notes in docs/, never notes kept
outside the repository, every file it cites exists, and the family docs name every knob.

A newcomer carrying the project on has only the repository. A docstring that says "see the
contract, section 6" sends them to a file they do not have; one that names docs/vendors/… sends
them to the facts the code relies on.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from wedsync_integrations.integrations.registry import get_family

ROOT = Path(__file__).resolve().parent.parent
THIS_FILE = Path(__file__).resolve().relative_to(ROOT).as_posix()

# Notes outside the repository: the shared folder next to the checkout, and the contract notes in it.
OUTSIDE_POINTER = re.compile(r"\.\./shared|/work/shared")
CONTRACT_POINTER = re.compile(r"contracts/|\bcontracts?\s*\(?§")
CITATION = re.compile(r"\bdocs/(?:vendors|families)/[A-Za-z0-9_.-]+\.md\b")

SKIPPED_DIRS = {".git", ".venv", "var", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "build",
                "staticfiles", "node_modules"}  # fmt: skip
DOCUMENTED_FAMILIES = {
    "monitoring": "MONITORING_", "alerts": "ALERTS_", "webhooks": "WEBHOOK_", "crm": "CRM_", "bi": "BI_",
    "accounting": "ACCOUNTING_",
}  # fmt: skip


def project_files() -> list[str]:
    """Every file of the project (tracked, or new and not ignored), as POSIX paths from the root."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode()
        paths = [path for path in listed.split("\0") if path]
    except (OSError, subprocess.SubprocessError):  # no git (an exported tree): walk it instead
        paths = []
        for folder, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
            paths += [(Path(folder) / name).relative_to(ROOT).as_posix() for name in files]
    return sorted(path for path in paths if (ROOT / path).is_file())


def text_of(path: str) -> str:
    return (ROOT / path).read_text(encoding="utf-8", errors="ignore")


def in_docs_or_tests(path: str) -> bool:
    return path.startswith(("docs/", "tests/"))


def pointers_outside(path: str, text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if OUTSIDE_POINTER.search(line) or (not in_docs_or_tests(path) and CONTRACT_POINTER.search(line)):
            found.append(f"{path}:{number}: {line.strip()[:120]}")
    return found


def test_nothing_in_the_project_points_outside_it():
    """Code, settings, scripts and docs cite docs/…, not the shared folder or the contract notes
    (docs/ and tests/ may use the word; nothing may point at ../shared)."""
    offenders = [hit for path in project_files() if path != THIS_FILE for hit in pointers_outside(path, text_of(path))]
    assert not offenders, "cite docs/vendors/<vendor>.md or docs/families/<family>.md instead:\n" + "\n".join(offenders)


def test_the_outside_pointer_check_catches_what_it_is_for():
    assert pointers_outside("alerts/providers/sms.py", "Contract: contracts/crm-and-alerts.md §6.")
    assert pointers_outside("webhooks/providers/tave.py", "So (contract §1): the subscription URL")
    assert pointers_outside("docs/families/alerts.md", "see ../shared/docs/product-rules.md")
    assert pointers_outside("README.md", "see ../shared/docs/product-rules.md")
    assert not pointers_outside("alerts/providers/sms.py", "Contract: docs/vendors/twilio.md.")
    assert not pointers_outside("wedsync_integrations/integrations/connect.py", "(RFC 6749 §10.12)")


def test_every_doc_the_code_cites_exists():
    cited: dict[str, list[str]] = {}
    for path in project_files():
        if path.startswith("docs/") or path == THIS_FILE:
            continue  # docs may name the files other families are writing; the code may not
        for citation in CITATION.findall(text_of(path)):
            cited.setdefault(citation, []).append(path)
    assert cited, "no code cites docs/: the citation pattern is wrong"
    missing = {doc: sorted(set(paths)) for doc, paths in cited.items() if not (ROOT / doc).is_file()}
    assert not missing, f"cited but not written: {missing}"


@pytest.mark.parametrize("family_name", sorted(DOCUMENTED_FAMILIES))
def test_every_vendor_module_cites_its_vendor_notes(family_name):
    family = get_family(family_name)
    assert family.providers, f"{family_name} has no providers registered"
    uncited = []
    for name, provider_cls in sorted(family.providers.items()):
        source = inspect.getsource(sys.modules[provider_cls.__module__])
        vendor_notes = [doc for doc in CITATION.findall(source) if doc.startswith("docs/vendors/")]
        if not vendor_notes or not all((ROOT / doc).is_file() for doc in vendor_notes):
            uncited.append(f"{name} ({provider_cls.__module__})")
    assert not uncited, "each vendor module cites an existing docs/vendors/<vendor>.md: " + ", ".join(uncited)


@pytest.mark.parametrize("family_name, prefix", sorted(DOCUMENTED_FAMILIES.items()))
def test_the_family_doc_names_every_setting_of_the_family(family_name, prefix):
    doc = ROOT / "docs" / "families" / f"{family_name}.md"
    assert doc.is_file(), f"{doc.relative_to(ROOT)} is missing"
    text = doc.read_text(encoding="utf-8")
    knobs = sorted(name for name in dir(settings) if name.startswith(prefix))
    assert knobs, f"no {prefix}* settings found: the prefix is wrong"
    undocumented = [name for name in knobs if not re.search(rf"\b{name}\b", text)]
    assert not undocumented, f"{doc.relative_to(ROOT)} does not mention {', '.join(undocumented)}"
