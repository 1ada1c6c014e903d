"""The Chart model: the real chart loads; every broken Chart.yaml is an InputError naming file and place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from webstack.chart import Chart, is_chart
from webstack.errors import InputError
from webstack.paths import CHART_DIR

GOOD = "apiVersion: v2\nname: demo\nversion: 0.1.0\n"


def chart_with(tmp_path: Path, text: str | bytes) -> Path:
    chart = tmp_path / "demo"
    chart.mkdir()
    path = chart / "Chart.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return chart


def test_the_real_chart() -> None:
    chart = Chart.load(CHART_DIR)
    assert (chart.name, chart.path) == ("webstack", CHART_DIR / "Chart.yaml")
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart.version) and chart.app_version
    assert [d["name"] for d in chart.dependencies] == ["flask", "mysql", "nginx"]
    assert [p.name for p in chart.subchart_dirs] == ["flask", "mysql", "nginx"]
    assert all(Chart.load(p).version for p in chart.subchart_dirs)


def test_minimal_chart_and_is_chart(tmp_path: Path) -> None:
    chart = Chart.load(chart_with(tmp_path, GOOD + "appVersion: 1.10\n"))
    assert (chart.name, chart.version, chart.app_version) == ("demo", "0.1.0", "1.1")
    assert chart.dependencies == [] and chart.subchart_dirs == []
    assert is_chart(tmp_path / "demo") and not is_chart(tmp_path) and not is_chart(tmp_path / "nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("apiVersion: v2\nname: [demo\n", r"Chart.yaml:3:1: YAML syntax error: .*started at line 2"),
        (b"name: demo\ndescription: \xc3\xa9t\xe9\n", r"Chart.yaml:2:16: expected UTF-8 text, found byte"),
        ("- name: demo\n", r"Chart.yaml:1: expected a mapping at the top level \(Chart.yaml\), found list"),
        ("apiVersion: v2\nname: demo\n", r"Chart.yaml: \.version: expected a non-empty string, not set"),
        ("version: 0.1.0\nname: 7\n", r"Chart.yaml: \.name: expected a non-empty string, found 7"),
        ("name: demo\nversion: 1.0\n", r"Chart.yaml: \.version: expected a non-empty string, found 1.0"),
        (GOOD + "dependencies: {flask: 1}\n", r"Chart.yaml: \.dependencies: expected a list of mappings"),
        (GOOD + "dependencies: [flask]\n", r"Chart.yaml: \.dependencies: expected a list of mappings"),
    ],
)
def test_broken_chart_yaml_names_file_and_place(tmp_path: Path, text: str | bytes, message: str) -> None:
    chart = chart_with(tmp_path, text)
    with pytest.raises(InputError, match=re.escape(str(chart)) + "/" + message):
        Chart.load(chart)


def test_not_a_chart_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=f"{tmp_path / 'nope'}: chart directory does not exist"):
        Chart.load(tmp_path / "nope")
    (tmp_path / "file").write_text(GOOD)
    with pytest.raises(InputError, match=f"{tmp_path / 'file'}: expected a chart directory, found a file"):
        Chart.load(tmp_path / "file")
    with pytest.raises(InputError, match=rf"{tmp_path}: not a chart \(no Chart.yaml\)"):
        Chart.load(tmp_path)
    (tmp_path / "dir" / "Chart.yaml").mkdir(parents=True)
    with pytest.raises(InputError, match=f"{tmp_path / 'dir' / 'Chart.yaml'}: expected a Chart.yaml file, "
                                         "found a directory"):
        Chart.load(tmp_path / "dir")
