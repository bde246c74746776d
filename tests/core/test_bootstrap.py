"""scripts/bootstrap.sh (the first step of `make demo` and `make test`) on a machine with the wrong Python."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _checkout(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", tmp_path / "scripts" / "bootstrap.sh")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _fake_python(path: Path, version: str) -> Path:
    """An interpreter that reports `version` and is not 3.11."""
    path.write_text(f'#!/bin/sh\nif [ "$1" = --version ]; then echo "Python {version}"; exit 0; fi\nexit 1\n')
    path.chmod(0o755)
    return path


def test_a_wrong_python_is_named_with_what_to_do_and_nothing_is_created(tmp_path):
    checkout = _checkout(tmp_path / "clone")
    python = _fake_python(tmp_path / "python3.12", "3.12.4")

    result = subprocess.run(
        ["bash", "scripts/bootstrap.sh"], cwd=checkout, env={"PATH": "/usr/bin:/bin", "PYTHON": str(python)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 1
    assert "needs Python 3.11" in result.stderr and "Python 3.12.4" in result.stderr
    assert "PYTHON=/path/to/python3.11" in result.stderr
    assert not (checkout / ".venv").exists()


def test_a_venv_built_with_another_python_is_recreated(tmp_path):
    checkout = _checkout(tmp_path / "clone")
    stale = checkout / ".venv" / "bin"
    stale.mkdir(parents=True)
    _fake_python(stale / "python", "3.10.9")
    python = _fake_python(tmp_path / "python3.12", "3.12.4")  # and no 3.11 to rebuild it with

    result = subprocess.run(
        ["bash", "scripts/bootstrap.sh"], cwd=checkout, env={"PATH": "/usr/bin:/bin", "PYTHON": str(python)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert "Recreating .venv: it was built with Python 3.10.9" in result.stdout
    assert not (checkout / ".venv").exists()  # the stale one is gone, not reused
    assert result.returncode == 1 and "needs Python 3.11" in result.stderr
