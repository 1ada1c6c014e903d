"""YAML files users give (Chart.yaml, indexes, scenarios): errors name the file, line and column."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from webstack.errors import InputError
from webstack.yamlfile import load_mapping

pytestmark = pytest.mark.static
DEMO = Path(__file__).parents[1] / "fixtures" / "gate" / "demo"


@pytest.mark.parametrize(("text", "message"), [
    ("a: 1\nb: [2\n", r":3:1: YAML syntax error: .*started at line 2"),
    ("- just\n- a list\n", r":1: expected a mapping at the top level \(thing\), found list"),
])
def test_bad_yaml_names_file_and_line(tmp_path, text, message):
    bad = tmp_path / "f.yaml"
    bad.write_text(text)
    with pytest.raises(InputError, match=f"{bad}{message}"):
        load_mapping(bad, "thing")


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(InputError, match=f"cannot read thing {tmp_path / 'nope.yaml'}"):
        load_mapping(tmp_path / "nope.yaml", "thing")
    (tmp_path / "empty.yaml").write_text("")
    assert load_mapping(tmp_path / "empty.yaml", "thing") == {}


@pytest.mark.parametrize("command", [["lint"], ["package", "--output", "OUT"]])
def test_broken_chart_yaml_exits_2_with_its_line(tmp_path, command):
    chart = tmp_path / "chart"
    shutil.copytree(DEMO, chart)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: [demo\n")
    args = [a.replace("OUT", str(tmp_path / "dist")) for a in command]
    res = subprocess.run([sys.executable, "-m", "webstack", *args, "--chart", str(chart)],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{chart / 'Chart.yaml'}:3:1: YAML syntax error" in res.stderr
    assert not (tmp_path / "dist").exists()
