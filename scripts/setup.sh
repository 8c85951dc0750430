#!/usr/bin/env bash
# Create .venv and install agents_magic with its locked, hash-checked dependencies.
# Needs only python3 (>= 3.10) and access to PyPI. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  # Some system Pythons ship without the venv module's pip; virtualenv is the fallback.
  "$PYTHON" -m venv .venv 2>/dev/null || {
    rm -rf .venv
    "$PYTHON" -m pip install --quiet --user virtualenv && "$PYTHON" -m virtualenv --quiet .venv
  }
fi
# The lock is complete (every transitive dependency pinned with hashes), so pip installs it as is,
# without resolving again, and `pip check` confirms nothing is missing or conflicting.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
.venv/bin/python -m pip check
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
# A "python3" kernel that runs this environment, for Jupyter and the headless quickstart.
.venv/bin/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (agents_magic)" >/dev/null
