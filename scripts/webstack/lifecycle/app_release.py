"""The chart copy the lifecycle's upgrade installs (appVersion one patch up, hence a new image tag),
and the app image that chart runs. (helm itself is driven through webstack.helm.)
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from webstack.chart import Chart


def bump_patch(version: str) -> str:
    core, sep, rest = version.partition("-")
    parts = core.split(".")
    parts[-1] = str(int(parts[-1]) + 1)
    return ".".join(parts) + (sep + rest if sep else "")


def _write_meta(chart: Chart, meta: dict[str, Any]) -> None:
    """The one place the lifecycle writes a Chart.yaml (only ever into its own copy)."""
    chart.path.write_text(yaml.safe_dump(meta, sort_keys=False))


def bumped_chart(chart: Path, dest: Path) -> tuple[Path, str]:
    """A copy of the chart as a new app release: appVersion (hence the default image tag) + 1 patch.

    The app's version is the umbrella's appVersion and that of every subchart carrying the same
    appVersion (the flask subchart: its image tag defaults to its own .Chart.AppVersion); the chart
    versions go up one patch too. Subcharts of other apps (mysql, nginx) keep theirs.
    """
    out = dest / chart.name
    shutil.copytree(chart, out, symlinks=True)
    top = Chart.load(out)
    old = top.app_version or "0.0.0"
    new = bump_patch(old)
    _write_meta(top, {**top.meta, "appVersion": new, "version": bump_patch(top.version)})
    for sub in map(Chart.load, top.subchart_dirs):
        if sub.app_version == old:
            _write_meta(sub, {**sub.meta, "appVersion": new})
    return out, new


def app_images(chart: Path) -> list[str]:
    """The app image the chart runs (tagged with its appVersion), to load into the cluster."""
    return [f"webstack/app:{Chart.load(chart).app_version}"]
