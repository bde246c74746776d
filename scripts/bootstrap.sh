#!/usr/bin/env bash
# Create .venv and install the pinned project with its dev tools. Re-runs are cheap: pip is
# only invoked again when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
is_python311() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' >/dev/null 2>&1; }
if [ -x .venv/bin/python ] && ! is_python311 .venv/bin/python; then
  echo "Recreating .venv: it was built with $(.venv/bin/python --version 2>&1), the project needs Python 3.11 ..."
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  PYTHON=${PYTHON:-python3.11}
  command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
  if ! is_python311 "$PYTHON"; then
    echo "The project needs Python 3.11; '$PYTHON' is $("$PYTHON" --version 2>&1 || echo 'not installed')." >&2
    echo "Install python3.11 (e.g. apt-get install python3.11 python3.11-venv) or run: PYTHON=/path/to/python3.11 make ..." >&2
    exit 1
  fi
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "Installing dependencies into .venv ..."
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
