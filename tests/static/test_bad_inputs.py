"""Every bad input to every `webstack` command that takes a chart or a file: exit 2, one message naming
the file and the place in it, never a Python traceback; `smoke` fails before any cluster starts."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.static
WEBSTACK = Path(sys.executable).with_name("webstack")
TINY = Path(__file__).parents[1] / "fixtures" / "tiny-chart"
SMOKE = ["smoke", "--provider", "kwok"]


def webstack(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    res = subprocess.run([str(WEBSTACK), *args], capture_output=True, text=True, timeout=300, check=False)
    return res, time.monotonic() - started


def assert_input_error(res: subprocess.CompletedProcess[str], names: Path, line: str | None) -> str:
    """Exit 2, no traceback, the file named (with `line`, a regex like `:2:10:`, right after it)."""
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert "Traceback" not in out, out
    assert "error: " in res.stderr, out
    assert str(names) in res.stderr, out
    if line is not None:
        assert re.search(re.escape(str(names)) + line, res.stderr), out
    return out


def tiny_chart(tmp_path: Path) -> Path:
    chart = tmp_path / "chart"
    shutil.copytree(TINY, chart)
    return chart


# -- values files: (name, make(path) -> None, where the message points) ----------------------------

VALUES_CASES = {
    "missing": (lambda p: None, None),
    "a directory": (lambda p: p.mkdir(), None),
    "not UTF-8": (lambda p: p.write_bytes(b"replicas: 1\nname: caf\xe9\n"), ":2:10:"),
    "YAML syntax error": (lambda p: p.write_text("a: 1\nb: [2\n"), r":3:1:"),
    "a list at the top level": (lambda p: p.write_text("- a\n- b\n"), ":1:"),
}
VALUES_COMMANDS = {"render": ["render"], "check": ["check"], "lint": ["lint"]}


@pytest.mark.parametrize("case", VALUES_CASES)
@pytest.mark.parametrize("command", VALUES_COMMANDS)
def test_bad_values_file(tmp_path: Path, command: str, case: str) -> None:
    make, line = VALUES_CASES[case]
    bad = tmp_path / "bad-values.yaml"
    make(bad)
    res, _ = webstack(*VALUES_COMMANDS[command], "--chart", str(tiny_chart(tmp_path)), "--values", str(bad))
    assert_input_error(res, bad, line)


# -- charts: (make(chart dir) -> the chart dir to pass, the path the message names, line) -----------

def _no_version(chart: Path) -> None:
    text = (chart / "Chart.yaml").read_text()
    (chart / "Chart.yaml").write_text(re.sub(r"(?m)^version:.*\n", "", text))


CHART_CASES = {
    "directory missing": (lambda c: shutil.rmtree(c), "", None),
    "no Chart.yaml": (lambda c: (c / "Chart.yaml").unlink(), "", None),
    "Chart.yaml syntax error": (
        lambda c: (c / "Chart.yaml").write_text("apiVersion: v2\nname: [tiny\n"), "Chart.yaml", r":3:1:"),
    "Chart.yaml not UTF-8": (
        lambda c: (c / "Chart.yaml").write_bytes(b"apiVersion: v2\nname: tiny\ndescription: caf\xe9\n"
                                                 b"version: 0.1.0\n"),
        "Chart.yaml", ":3:17:"),
    "Chart.yaml without version": (_no_version, "Chart.yaml", r": \.version: expected a non-empty string"),
}
CHART_COMMANDS = {
    "render": ["render"],
    "check": ["check"],
    "lint": ["lint"],
    "docs": ["docs"],
    "package": ["package", "--output", "{tmp}/dist"],
    "smoke": SMOKE,
}


@pytest.mark.parametrize("case", CHART_CASES)
@pytest.mark.parametrize("command", CHART_COMMANDS)
def test_broken_chart(tmp_path: Path, command: str, case: str) -> None:
    make, named, line = CHART_CASES[case]
    chart = tiny_chart(tmp_path)
    make(chart)
    args = [a.replace("{tmp}", str(tmp_path)) for a in CHART_COMMANDS[command]]
    res, seconds = webstack(*args, "--chart", str(chart))
    out = assert_input_error(res, chart / named if named else chart, line)
    assert not (tmp_path / "dist").exists()
    if command == "smoke":
        assert "cluster up" not in out and seconds < 20, (seconds, out)


# -- smoke: its own inputs fail before any cluster starts ------------------------------------------

SCENARIO_CASES = {
    "YAML syntax error": (lambda p: p.write_text("chart: [\n"), r":2:1:"),
    "not UTF-8": (lambda p: p.write_bytes(b"release: caf\xe9\n"), ":1:13:"),
    "a list at the top level": (lambda p: p.write_text("- chart\n"), ":1:"),
    "a directory": (lambda p: p.mkdir(), None),
}


@pytest.mark.parametrize("case", SCENARIO_CASES)
def test_smoke_broken_scenario(tmp_path: Path, case: str) -> None:
    make, line = SCENARIO_CASES[case]
    scenario = tmp_path / "scenario.yaml"
    make(scenario)
    res, seconds = webstack(*SMOKE, "--scenario", str(scenario))
    out = assert_input_error(res, scenario, line)
    assert "cluster up" not in out and seconds < 20, (seconds, out)


def test_smoke_unknown_base_ref_fails_before_any_cluster(tmp_path: Path) -> None:
    res, seconds = webstack(*SMOKE, "--chart", str(tiny_chart(tmp_path)), "--base-ref", "NO-SUCH-REF")
    out = res.stdout + res.stderr
    assert res.returncode == 2 and "Traceback" not in out, out
    assert "--base-ref 'NO-SUCH-REF': not a commit, branch or tag" in res.stderr, out
    assert "cluster up" not in out and seconds < 20, (seconds, out)


def test_smoke_chart_with_broken_values_yaml_fails_before_any_cluster(tmp_path: Path) -> None:
    chart = tiny_chart(tmp_path)
    (chart / "values.yaml").write_bytes(b"greeting: caf\xe9\n")
    res, seconds = webstack(*SMOKE, "--chart", str(chart))
    out = assert_input_error(res, chart / "values.yaml", ":1:14:")
    assert "cluster up" not in out and seconds < 20, (seconds, out)
