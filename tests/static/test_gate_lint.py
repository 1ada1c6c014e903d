"""`webstack lint`: helm lint --strict over the matrix and subcharts, yamllint, Chart.yaml rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from webstack.checks import chart_rules
from webstack.cli import main
from webstack.values import ValuesSet

pytestmark = pytest.mark.static
DEMO = Path(__file__).parents[1] / "fixtures" / "gate" / "demo"


@pytest.fixture
def chart(tmp_path) -> Path:
    dest = tmp_path / "demo"
    shutil.copytree(DEMO, dest)
    return dest


def _report(tmp_path: Path, *args: str) -> tuple[int, list[dict]]:
    out = tmp_path / "lint.json"
    rc = main(["lint", *args, "--format", "json", "--output", str(out)])
    return rc, json.loads(out.read_text())["findings"]


def test_fixture_chart_lints_clean(tmp_path):
    rc, found = _report(tmp_path, "--chart", str(DEMO))
    assert rc == 0, found
    assert {f["rule"] for f in found} <= {"HELM-LINT", "README-FRESHNESS", "README-STALE"}
    # helm lint ran for every values set of the matrix and for the subchart
    contexts = {(Path(f["file"]).parent.name, f["context"]) for f in found if f["rule"] == "HELM-LINT"}
    assert {("demo", "default"), ("demo", "ha"), ("demo", "nodeport"), ("web", "default")} <= contexts


def test_chart_yaml_rules(chart):
    meta = chart / "Chart.yaml"
    meta.write_text(
        meta.read_text()
        .replace("version: 0.1.0", 'version: "1.0"')
        .replace("    condition: web.enabled\n", "")
        .replace("description: ", "x-description: ")
    )
    found = {(f.rule, f.path) for f in chart_rules.chart_yaml_rules(chart, "2.0.0")}
    assert found == {
        ("CHART-SEMVER", "version"),
        ("CHART-DEPENDENCY-CONDITION", "dependencies[0].condition"),
        ("CHART-REQUIRED-FIELD", "description"),
        ("CHART-APP-VERSION", "appVersion"),
    }


def test_app_version_must_match(chart, tmp_path):
    version = tmp_path / "VERSION"
    version.write_text("9.9.9\n")
    rc, found = _report(tmp_path, "--chart", str(chart), "--app-version-file", str(version))
    assert rc == 1
    assert [f["message"] for f in found if f["rule"] == "CHART-APP-VERSION"] == [
        'appVersion "1.0.0" differs from the app\'s VERSION "9.9.9"'
    ]


def test_yamllint_over_values_not_templates(chart):
    values = chart / "charts" / "web" / "values.yaml"
    values.write_text(values.read_text() + "odd:   yes\ntrailing: x   \n")
    found = {(Path(f.file.split(":")[0]).name, f.rule) for f in chart_rules.yamllint(chart)}
    assert ("values.yaml", "YAMLLINT-TRUTHY") in found
    assert ("values.yaml", "YAMLLINT-TRAILING-SPACES") in found
    assert all("templates" not in f.file for f in chart_rules.yamllint(chart))
    assert chart / "charts" / "web" / "templates" / "deployment.yaml" not in chart_rules.yaml_files(chart)


def test_helm_lint_errors_become_findings(chart):
    (chart / "charts" / "web" / "templates" / "bad.yaml").write_text(
        "kind: ConfigMap\nmetadata: {{ .Values.nope.x }}\n"
    )
    found = chart_rules.helm_lint(chart, ValuesSet("default"))
    assert any(f.severity.name == "ERROR" and "bad.yaml" in f.message for f in found), found


def test_lint_exit_codes(chart, tmp_path):
    meta = chart / "charts" / "web" / "Chart.yaml"
    meta.write_text(meta.read_text().replace("version: 0.1.0", "version: 0.1"))
    rc, found = _report(tmp_path, "--chart", str(chart))
    assert rc == 1 and any(f["rule"] == "CHART-SEMVER" for f in found)
    assert main(["lint", "--chart", str(tmp_path / "nowhere")]) == 2


def test_missing_yamllint_config_is_an_input_error(tmp_path):
    from webstack.errors import InputError

    with pytest.raises(InputError, match="yamllint config is missing"):
        chart_rules.yamllint(DEMO, tmp_path / "none.yaml")


def test_stale_readme_is_reported(chart):
    values = chart / "charts" / "web" / "values.yaml"
    values.write_text(values.read_text().replace("# -- pods to run", "# -- how many pods to run"))
    found = chart_rules.readme_findings(chart)
    assert [(f.rule, Path(f.file)) for f in found] == [
        ("README-STALE", chart / "charts" / "web" / "README.md")
    ]
