"""Scenario files: bad input is an InputError naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from cluster_helpers import FIXTURES

from webstack.cluster import scenario as scen
from webstack.errors import InputError
from webstack.lifecycle import bump_patch, bumped_chart


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "scenario.yaml"
    p.write_text(text)
    return p


GOOD = f"chart: {FIXTURES / 'chart'}\nrelease: fx\nbadUpgrade: {{values: {{servicePort: 70000}}}}\n"


def test_the_shipped_scenarios_load() -> None:
    fx = scen.load(FIXTURES / "scenario.yaml")
    assert fx.release == "fx" and fx.upgrade_values == {"logLevel": "debug"} and fx.bad_timeout == "20s"
    assert fx.chart_in_repo == "tests/fixtures/cluster/chart"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chart: [", "YAML syntax error"),
        ("- a list", "expected a mapping"),
        (GOOD + "colour: blue\n", "unknown key.*colour"),
        (GOOD.replace("release: fx", "release: Not_A_Name"), "release must be a DNS label"),
        (GOOD + "timeout: soon\n", "timeout must be a duration"),
        (GOOD + "install: [1]\n", "install must be a mapping"),
        (GOOD + "upgrade: {bumpAppVersion: maybe}\n", "upgrade.bumpAppVersion must be true or false"),
        (GOOD.replace("{values: {servicePort: 70000}}", "{timeout: 5s}"), "badUpgrade.values must set"),
        (GOOD.replace(str(FIXTURES / "chart"), "/nonexistent/chart"), "has no Chart.yaml"),
    ],
)
def test_bad_scenarios(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=message) as err:
        scen.load(path)
    assert str(path) in str(err.value)


def test_missing_scenario_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"cannot read scenario {tmp_path / 'nope.yaml'}"):
        scen.load(tmp_path / "nope.yaml")


def test_version_bump(tmp_path: Path) -> None:
    assert bump_patch("1.0.9") == "1.0.10" and bump_patch("2.1.0-rc.1") == "2.1.1-rc.1"
    out, version = bumped_chart(FIXTURES / "chart", tmp_path)
    assert version == "1.0.1" and "version: 0.1.1" in (out / "Chart.yaml").read_text()
    assert 'appVersion: "1.0.0"' in (FIXTURES / "chart" / "Chart.yaml").read_text()  # original untouched
