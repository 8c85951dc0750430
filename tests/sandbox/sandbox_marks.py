"""What sandbox tests plant and look for (a module of its own: every test folder has a conftest)."""

from __future__ import annotations

from pathlib import Path

CANARY = Path("/tmp/am-sandbox-canary")
SECRET = "am-sandbox-secret-4f1c2b"
