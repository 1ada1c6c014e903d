"""One real build of every image per session (a few minutes cold, about a second when cached)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from webstack import images
from webstack.paths import APP_DIR


@dataclass(frozen=True)
class Built:
    images: list[images.BuiltImage]
    versions: list[str]
    seconds: float
    lines: list[str]

    def one(self, name: str, version: str = "") -> images.BuiltImage:
        suffix = f":{version}" if version else ""
        return next(i for i in self.images if i.name == name and i.ref.endswith(suffix))


@pytest.fixture(scope="session")
def built() -> Built:
    version = (APP_DIR / "VERSION").read_text().strip()
    major, minor, patch = version.split(".")
    versions = [version, f"{major}.{minor}.{int(patch) + 1}"]  # what the lifecycle upgrades between
    lines: list[str] = []
    start = time.monotonic()
    result = images.build(versions, progress=lines.append)
    return Built(result, versions, time.monotonic() - start, lines)
