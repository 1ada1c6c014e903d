"""`webstack smoke --matrix` on the real node: the chart's ci values files with their containers
really running, two at a time.

Two at a time because the node has 2 CPUs and a default release requests 550m (MySQL 250m, two
flask and two nginx replicas at 50m each): all ten at once request ~4.6 CPUs and most pods would
stay Pending. external-database-values.yaml is left out here: its app pods are Ready only once they
reach a MySQL at mysql.databases.svc.cluster.local, a database outside the chart that nothing on
the node provides (on kwok no container runs, so the kwok matrix covers the file).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from webstack.cli import main
from webstack.paths import CHART_DIR

NEEDS_AN_EXTERNAL_DATABASE = "external-database-values.yaml"


def test_matrix_on_the_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chart = tmp_path / "webstack"
    shutil.copytree(CHART_DIR, chart)
    (chart / "ci" / NEEDS_AN_EXTERNAL_DATABASE).unlink()
    files = sorted(p.name for p in (chart / "ci").glob("*-values.yaml"))
    code = main(["smoke", "--matrix", "--provider", "node", "--jobs", "2", "--chart", str(chart),
                 "--report-dir", str(tmp_path / "r")])
    out = capsys.readouterr().out
    steps = {s["name"]: s for s in json.loads((tmp_path / "r" / "smoke.json").read_text())["steps"]}
    assert code == 0, out
    assert [n for n in steps if n.endswith("-values.yaml")] == files
    for name in files:
        assert steps[name]["result"] == "passed", steps[name]
        assert "test pod(s) Succeeded" in str(steps[name]["detail"]), steps[name]
    assert steps["cluster up"]["result"] == "passed" and steps["cluster down"]["result"] == "passed"
