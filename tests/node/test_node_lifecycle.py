"""`webstack smoke` on the real node: every step of the release lifecycle runs, none is skipped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from webstack.lifecycle import SmokeOptions, smoke
from webstack.report import Step

# Steps that can only pass where containers really run: on kwok these are skipped.
REAL_ONLY = ("http checks", "in-container checks")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Step], Path]:
    reports = tmp_path_factory.mktemp("node-smoke")
    return smoke(SmokeOptions(provider="node", report_dir=reports)), reports


def by_name(steps: list[Step]) -> dict[str, Step]:
    return {s.name: s for s in steps}


def test_every_step_passes_and_none_is_skipped(run: tuple[list[Step], Path]) -> None:
    steps, _ = run
    bad = [f"{s.name}: {s.result}: {s.detail}" for s in steps if s.result != "passed"]
    assert bad == []
    assert {"cluster up", "install", "helm test", *REAL_ONLY, "upgrade", "rollback", "uninstall",
            "cluster down"} <= set(by_name(steps))


def test_images_are_substituted_and_said(run: tuple[list[Step], Path]) -> None:
    detail = by_name(run[0])["cluster up"].detail
    assert "node cluster" in detail and "Kubernetes v1.36.1" in detail
    assert "mysql:8.4 -> localhost/webstack-standin/mysql" in detail
    assert "nginx-unprivileged" in detail


def test_helm_test_pod_really_ran(run: tuple[list[Step], Path]) -> None:
    assert "Succeeded" in by_name(run[0])["helm test"].detail


def test_http_and_in_container_checks_ran(run: tuple[list[Step], Path]) -> None:
    steps = by_name(run[0])
    assert "checks passed through svc/" in steps["http checks"].detail
    assert re.search(r"^\d+ checks in 3 containers, 0 failed", steps["in-container checks"].detail)


def test_probe_during_upgrade_and_rollback_lost_nothing(run: tuple[list[Step], Path]) -> None:
    for name in ("upgrade", "rollback"):
        detail = by_name(run[0])[name].detail
        assert "probe through the Service:" in detail, detail
        assert " 0 failed" in detail, detail


def test_reports_are_written(run: tuple[list[Step], Path]) -> None:
    steps, reports = run
    data = json.loads((reports / "smoke.json").read_text())
    names = [s["name"] for s in (data["steps"] if isinstance(data, dict) else data)]
    assert names == [s.name for s in steps]
    assert (reports / "smoke.junit.xml").read_text().count("<testcase") == len(steps)


def test_prometheus_scrapes_every_app_pod_and_counts_the_probe(run: tuple[list[Step], Path]) -> None:
    detail = by_name(run[0])["monitoring"].detail
    m = re.search(r"(\d+) targets up after [\d.]+s", detail)
    assert m and int(m.group(1)) >= 2, detail  # the chart's two app replicas, discovered via the API
    good = int(re.search(r"probe (\d+) good answers", detail).group(1))  # type: ignore[union-attr]
    counted = int(re.search(r"app counter \+(\d+)", detail).group(1))  # type: ignore[union-attr]
    nginx = int(re.search(r"stub_status requests \+(\d+)", detail).group(1))  # type: ignore[union-attr]
    assert counted >= good > 0 and nginx >= good, detail


def test_mysql_down_alert_went_pending_firing_and_cleared(run: tuple[list[Step], Path]) -> None:
    detail = by_name(run[0])["MySQL-down alert"].detail
    m = re.search(r"pending at ([\d.]+)s, firing at ([\d.]+)s, cleared at ([\d.]+)s", detail)
    assert m, detail
    pending, firing, cleared = (float(x) for x in m.groups())
    assert pending <= firing < cleared, detail
