"""The gate end to end: report formats, --output, exit codes, and the real chart passing."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from webstack.cli import main
from webstack.paths import CHART_DIR

pytestmark = pytest.mark.static
GATE = Path(__file__).parents[1] / "fixtures" / "gate"


def test_clean_chart_exits_0_in_every_format(tmp_path, capsys):
    assert main(["check", "--chart", str(GATE / "demo")]) == 0
    out = capsys.readouterr().out
    assert "no check findings" in out and "3 values set(s)" in out
    for fmt in ("json", "junit"):
        assert (
            main(["check", "--chart", str(GATE / "demo"), "--format", fmt, "--output", str(tmp_path / fmt)])
            == 0
        )
    report = json.loads((tmp_path / "json").read_text())
    assert report == {"generator": "webstack", "findings": [], "count": 0}
    suite = ET.fromstring((tmp_path / "junit").read_text()).find("testsuite")
    assert suite.get("failures") == "0"
    assert {tc.get("name") for tc in suite} == {"values", "kubernetes", "policy", "references", "hooks"}


def test_findings_exit_1_and_reach_every_format(tmp_path, capsys):
    chart = str(GATE / "bad-policy")
    assert main(["check", "--chart", chart, "--format", "junit", "--output", str(tmp_path / "r.xml")]) == 1
    suite = ET.fromstring((tmp_path / "r.xml").read_text()).find("testsuite")
    failing = {tc.get("name") for tc in suite if tc.find("failure") is not None}
    assert failing == {"kubernetes", "policy", "references"}
    assert main(["check", "--chart", chart, "--format", "json", "--output", str(tmp_path / "r.json")]) == 1
    found = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert {"file", "object", "path", "rule", "message", "severity", "check", "context"} == set(found[0])
    # both Kubernetes versions were checked
    assert {f["context"] for f in found if f["check"] == "kubernetes"} >= {
        "default k8s 1.30",
        "default k8s 1.37",
    }
    capsys.readouterr()
    assert main(["check", "--chart", chart, "--check", "kubernetes", "--kube-version", "1.33"]) == 1
    text = capsys.readouterr().out
    assert "K8S-SCHEMA" in text and "1.33" in text and "PSS-" not in text


def test_fail_on_threshold(tmp_path):
    chart = str(GATE / "bad-policy")
    # only info findings remain when the check is limited to what is merely informational
    args = [
        "check",
        "--chart",
        chart,
        "--check",
        "kubernetes",
        "--kube-version",
        "1.37",
        "--format",
        "json",
        "--output",
        str(tmp_path / "r.json"),
    ]
    assert main(args) == 1
    demo = [
        "check",
        "--chart",
        str(GATE / "demo"),
        "-f",
        str(GATE / "demo" / "ci" / "nodeport-values.yaml"),
        "--previous-values",
        str(GATE / "demo" / "values.yaml"),
    ]
    assert main([*demo, "--fail-on", "warning"]) == 1
    assert main([*demo, "--fail-on", "error"]) == 0
    assert main([*demo, "--check", "values", "--fail-on", "info"]) == 0


def test_bad_external_spec_is_exit_2(capsys):
    assert main(["check", "--chart", str(GATE / "demo"), "--external", "just-a-name"]) == 2
    assert "expected KIND/NAME" in capsys.readouterr().err


def _require_real_chart() -> None:
    if not (CHART_DIR / "Chart.yaml").is_file():
        pytest.fail(
            f"the real chart is missing at {CHART_DIR}: the gate cannot be proven on it", pytrace=False
        )


def test_real_chart_passes_check(tmp_path):
    _require_real_chart()
    out = tmp_path / "check.json"
    rc = main(["check", "--format", "json", "--output", str(out)])
    found = json.loads(out.read_text())["findings"]
    assert rc == 0, [f for f in found if f["severity"] != "info"]


def test_real_chart_passes_lint(tmp_path):
    _require_real_chart()
    out = tmp_path / "lint.json"
    rc = main(["lint", "--format", "json", "--output", str(out)])
    found = json.loads(out.read_text())["findings"]
    assert rc == 0, [f for f in found if f["severity"] != "info"]
