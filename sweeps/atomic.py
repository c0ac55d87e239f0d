"""Write a file so that readers see the old content or the new, never half of it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_bytes_atomic(path: Path, content: bytes) -> Path:
    """Write ``content`` to a temporary sibling of ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    staging.write_bytes(content)
    os.replace(staging, path)
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    """``write_bytes_atomic`` for text (UTF-8)."""
    return write_bytes_atomic(path, text.encode())
