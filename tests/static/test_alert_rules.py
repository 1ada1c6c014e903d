"""The chart's alerts, proven with Prometheus's own tool: `promtool check rules` on the rendered
PrometheusRule content and `promtool test rules` (tests/fixtures/monitoring/alerts-test.yaml): every
alert fires on a series that should fire it and stays silent on one that should not. The rules file
in the ConfigMap must be the PrometheusRule's groups, byte for byte as YAML data (one source).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from webstack import monitoring
from webstack.paths import CHART_DIR
from webstack.toolchain import TOOLS

pytestmark = pytest.mark.static

FIXTURE = Path(__file__).parents[1] / "fixtures" / "monitoring" / "alerts-test.yaml"
CI_FILE = CHART_DIR / "ci" / "monitoring-values.yaml"
ALERTS = {"WebstackAppErrorRatioHigh", "WebstackAppLatencyP99High", "WebstackPodsNotReady",
          "WebstackMySQLDown", "WebstackBackupFailed", "WebstackBackupTooOld", "WebstackVolumeAlmostFull"}


def promtool() -> str:
    tool = TOOLS["prometheus"].binary("promtool")
    if not tool.exists():
        pytest.fail(f"promtool is not built ({tool}): run `make setup`")
    return str(tool)


@pytest.fixture(scope="module")
def rendered() -> monitoring.Monitoring:
    return monitoring.render(CHART_DIR, release="rel", namespace="mon", values_files=(CI_FILE,))


@pytest.fixture(scope="module")
def rules_dir(rendered: monitoring.Monitoring, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rules")
    (folder / "rules.yaml").write_text(yaml.safe_dump({"groups": rendered.rule_groups}, sort_keys=False))
    shutil.copy(FIXTURE, folder / FIXTURE.name)
    return folder


def test_every_alert_is_rendered_once(rendered: monitoring.Monitoring) -> None:
    names = [r["alert"] for g in rendered.rule_groups for r in g["rules"]]
    assert sorted(names) == sorted(ALERTS)


def test_rules_file_is_the_prometheusrule(rendered: monitoring.Monitoring) -> None:
    assert rendered.rules_file, "the rules ConfigMap was not rendered"
    assert yaml.safe_load(rendered.rules_file) == {"groups": rendered.rule_groups}


def test_promtool_check_rules_on_rendered_prometheusrule(rules_dir: Path) -> None:
    res = subprocess.run([promtool(), "check", "rules", str(rules_dir / "rules.yaml")],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in res.stdout + res.stderr


def test_promtool_unit_tests_fire_and_stay_silent(rules_dir: Path) -> None:
    res = subprocess.run([promtool(), "test", "rules", FIXTURE.name], cwd=rules_dir,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout + res.stderr


def test_every_alert_has_a_firing_and_a_silent_test() -> None:
    tests = yaml.safe_load(FIXTURE.read_text())["tests"]
    fires, silent = set(), set()
    for t in tests:
        for a in t["alert_rule_test"]:
            (fires if a.get("exp_alerts") else silent).add(a["alertname"])
    assert fires == ALERTS and silent == ALERTS


def test_thresholds_are_values() -> None:
    out = monitoring.render(CHART_DIR, release="rel", namespace="mon", values_files=(CI_FILE,), values={
        "monitoring": {"alerts": {"errorRatio": {"threshold": 0.2, "for": "7m"},
                                  "latencyP99": {"thresholdSeconds": 3},
                                  "backup": {"windowHours": 2}, "pvcUsage": {"threshold": 0.5},
                                  "mysqlDown": {"for": "10s"}}}})
    rules = {r["alert"]: r for g in out.rule_groups for r in g["rules"]}
    assert rules["WebstackAppErrorRatioHigh"]["expr"].endswith("> 0.2")
    assert rules["WebstackAppErrorRatioHigh"]["for"] == "7m"
    assert rules["WebstackAppLatencyP99High"]["expr"].endswith("> 3")
    assert "> 7200" in rules["WebstackBackupTooOld"]["expr"]
    assert rules["WebstackVolumeAlmostFull"]["expr"].endswith("> 0.5")
    assert rules["WebstackMySQLDown"]["for"] == "10s"


def test_backup_alerts_only_with_backups_and_nothing_by_default() -> None:
    out = monitoring.render(CHART_DIR, release="rel", namespace="mon", values={"mysql": {"backup": {
        "enabled": False}}})
    names = {r["alert"] for g in out.rule_groups for r in g["rules"]}
    assert names == ALERTS - {"WebstackBackupFailed", "WebstackBackupTooOld"}
    from webstack import helm

    kinds = {d.get("kind") for d in yaml.safe_load_all(helm.run(["template", "rel", str(CHART_DIR)]).stdout)
             if d}
    assert not kinds & {"PrometheusRule", "ServiceMonitor"}, "monitoring is off by default"


def test_dashboard_configmap_carries_the_sidecar_label(rendered: monitoring.Monitoring) -> None:
    from webstack import helm

    docs = yaml.safe_load_all(helm.run(["template", "rel", str(CHART_DIR), "-f", str(CI_FILE)]).stdout)
    cms = [d for d in docs if d and d["kind"] == "ConfigMap" and monitoring.DASHBOARD_KEY in d["data"]]
    assert len(cms) == 1 and cms[0]["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert rendered.dashboard is not None and rendered.dashboard["uid"] == "webstack"
