"""A check that found nothing to check has not passed: it says what was missing and fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EMPTY_WHEN_OFF = """{{- if .Values.enabled }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: x
{{- end }}
"""


def webstack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webstack", *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_a_values_set_that_renders_no_object_fails_the_gate(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: empty\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("enabled: false\n")
    (chart / "templates" / "cm.yaml").write_text(EMPTY_WHEN_OFF)
    res = webstack("check", "--chart", str(chart), "--format", "json")
    assert res.returncode == 1, res.stderr
    (finding,) = json.loads(res.stdout)["findings"]
    assert finding["rule"] == "RENDERED-NOTHING" and finding["context"] == "default"
    # with the object rendered, the same chart passes: the finding is about the render, not the chart
    on = tmp_path / "on.yaml"
    on.write_text("enabled: true\n")
    res = webstack("check", "--chart", str(chart), "--values", str(on), "--format", "json",
                   "--fail-on", "error")
    assert res.returncode == 0 and "RENDERED-NOTHING" not in res.stdout


def test_asking_for_the_upgrade_check_with_nothing_to_compare_is_an_error() -> None:
    res = webstack("check", "--check", "upgrade")
    assert res.returncode == 2 and "nothing to compare with" in res.stderr
