"""What the lifecycle does to a chart: a small YAML file, so the real chart and test fixtures share code.

chart: charts/webstack            # relative to the repository root (or absolute)
release: webstack
timeout: 120s                      # install, upgrade and rollback (helm --timeout)
install: {values}                  # values for revision 1
upgrade:
  bumpAppVersion: true             # revision 2 is the chart with appVersion + 1 patch (new image tag)
  values: {values}                 # merged over install values: the config change
badUpgrade:
  values: {values}                 # merged over install values; must fail (API server or wait)
  timeout: 20s
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webstack.chart import Chart, is_chart
from webstack.errors import InputError
from webstack.paths import REPO_ROOT
from webstack.values import defaults_of
from webstack.yamlfile import load_mapping

SCENARIOS_DIR = Path(__file__).with_name("scenarios")
DEFAULT_SCENARIO = SCENARIOS_DIR / "webstack.yaml"
_DURATION = re.compile(r"^\d+(ms|s|m)$")
_RELEASE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$")


@dataclass(frozen=True)
class Scenario:
    source: Path
    chart: Path
    release: str
    timeout: str = "120s"
    install: dict[str, Any] = field(default_factory=dict)
    upgrade_values: dict[str, Any] = field(default_factory=dict)
    bump_app_version: bool = True
    bad_values: dict[str, Any] = field(default_factory=dict)
    bad_timeout: str = "20s"

    @property
    def chart_in_repo(self) -> str | None:
        """The chart's path inside the git repository (for the base-ref upgrade), if it is in it."""
        try:
            return self.chart.resolve().relative_to(REPO_ROOT).as_posix()
        except ValueError:
            return None


def _mapping(doc: dict[str, Any], key: str, source: Path, where: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(
            f"{source}: {where}{key} must be a mapping of chart values, got {type(value).__name__}"
        )
    return value


def _duration(doc: dict[str, Any], key: str, default: str, source: Path, where: str) -> str:
    value = str(doc.get(key, default))
    if not _DURATION.match(value):
        raise InputError(f"{source}: {where}{key} must be a duration like 90s or 2m, got {value!r}")
    return value


def load(path: Path, chart: Path | None = None) -> Scenario:
    """Read and check a scenario file; InputError naming the file and the key on any problem."""
    doc = load_mapping(path, "scenario")
    known = {"chart", "release", "timeout", "install", "upgrade", "badUpgrade"}
    if unknown := sorted(set(doc) - known):
        raise InputError(
            f"{path}: unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}"
        )
    chart_path = chart or Path(str(doc.get("chart", "")))
    if not chart_path.is_absolute():
        chart_path = REPO_ROOT / chart_path
    if not is_chart(chart_path):
        source = "--chart" if chart else f"{path}: chart"
        raise InputError(f"{source} {chart_path} has no Chart.yaml (is the chart written yet?)")
    # A broken Chart.yaml or values.yaml fails here, naming its own line, before any cluster starts.
    Chart.load(chart_path)
    defaults_of(chart_path)
    release = str(doc.get("release", ""))
    if not _RELEASE.match(release):
        raise InputError(f"{path}: release must be a DNS label of at most 53 characters, got {release!r}")
    upgrade = doc.get("upgrade") or {}
    bad = doc.get("badUpgrade") or {}
    for key, value in (("upgrade", upgrade), ("badUpgrade", bad)):
        if not isinstance(value, dict):
            raise InputError(f"{path}: {key} must be a mapping, got {type(value).__name__}")
    if not bad.get("values"):
        raise InputError(f"{path}: badUpgrade.values must set at least one value that makes the upgrade fail")
    bump = upgrade.get("bumpAppVersion", True)
    if not isinstance(bump, bool):
        raise InputError(f"{path}: upgrade.bumpAppVersion must be true or false, got {bump!r}")
    return Scenario(
        source=path,
        chart=chart_path,
        release=release,
        timeout=_duration(doc, "timeout", "120s", path, ""),
        install=_mapping(doc, "install", path, ""),
        upgrade_values=_mapping(upgrade, "values", path, "upgrade."),
        bump_app_version=bump,
        bad_values=_mapping(bad, "values", path, "badUpgrade."),
        bad_timeout=_duration(bad, "timeout", "20s", path, "badUpgrade."),
    )
