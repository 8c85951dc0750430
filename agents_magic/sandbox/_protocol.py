"""Frames between the kernel and a worker: a 4-byte big-endian length, then UTF-8 JSON."""

from __future__ import annotations

import json
import os
from typing import Any

HEADER = 4


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":"), allow_nan=True).encode()
    return len(body).to_bytes(HEADER, "big") + body


def write(fd: int, message: dict[str, Any] | bytes) -> None:
    """Send one frame (``message`` or an already encoded frame)."""
    view = memoryview(message if isinstance(message, bytes) else encode(message))
    while view:
        view = view[os.write(fd, view):]
