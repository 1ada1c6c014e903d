"""Where things live: the repository, the chart, the per-user cache. One place for each path."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "webstack"
SUBCHARTS = ("flask", "mysql", "nginx")
APP_DIR = REPO_ROOT / "app"
GOTOOLS_DIR = REPO_ROOT / "scripts" / "gotools"


def cache_dir() -> Path:
    """Per-user cache root ($WEBSTACK_CACHE, else $XDG_CACHE_HOME/webstack, else ~/.cache/webstack)."""
    if explicit := os.environ.get("WEBSTACK_CACHE"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "webstack"


def subchart_dir(name: str) -> Path:
    return CHART_DIR / "charts" / name
