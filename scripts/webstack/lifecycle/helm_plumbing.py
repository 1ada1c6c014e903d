"""The helm plumbing the lifecycle uses: running pyhelm3's coroutines, helm's own error words,
and the chart copy the upgrade installs (appVersion one patch up, hence a new image tag).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
# pyhelm3 logs every failed helm command as a warning; the steps report those failures themselves.
logging.getLogger("pyhelm3").setLevel(logging.ERROR)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run one of pyhelm3's coroutines to the end, in a fresh event loop."""
    return asyncio.run(coro)


def helm_message(exc: BaseException) -> str:
    """helm's own words: its `Error:` line when there is one (pyhelm3 keeps stderr as bytes)."""
    stderr = getattr(exc, "stderr", None)
    if isinstance(stderr, bytes) and stderr.strip():
        text = stderr.decode(errors="replace").strip()
        errors = [ln.removeprefix("Error: ") for ln in text.splitlines() if ln.startswith("Error: ")]
        return "\n".join(errors) or text
    return str(exc).strip() or type(exc).__name__


def bump_patch(version: str) -> str:
    core, sep, rest = version.partition("-")
    parts = core.split(".")
    parts[-1] = str(int(parts[-1]) + 1)
    return ".".join(parts) + (sep + rest if sep else "")


def bumped_chart(chart: Path, dest: Path) -> tuple[Path, str]:
    """A copy of the chart as a new app release: appVersion (hence the default image tag) + 1 patch.

    The app's version is the umbrella's appVersion and that of every subchart carrying the same
    appVersion (the flask subchart: its image tag defaults to its own .Chart.AppVersion); the chart
    versions go up one patch too. Subcharts of other apps (mysql, nginx) keep theirs.
    """
    out = dest / chart.name
    shutil.copytree(chart, out, symlinks=True)
    top = yaml.safe_load((out / "Chart.yaml").read_text())
    old = str(top.get("appVersion", "0.0.0"))
    new = bump_patch(old)
    for path in [out / "Chart.yaml", *sorted((out / "charts").glob("*/Chart.yaml"))]:
        meta = yaml.safe_load(path.read_text())
        if path.parent == out or str(meta.get("appVersion")) == old:
            meta["appVersion"] = new
            if path.parent == out:
                meta["version"] = bump_patch(str(meta["version"]))
            path.write_text(yaml.safe_dump(meta, sort_keys=False))
    return out, new


def app_images(chart: Path) -> list[str]:
    """The app image the chart runs (tagged with its appVersion), to load into the cluster."""
    from webstack.chart import Chart

    return [f"webstack/app:{Chart.load(chart).app_version}"]
