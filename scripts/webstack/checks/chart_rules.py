"""The chart rules `webstack lint` runs: helm lint --strict, a render of each values set (helm lint
passes a template's `fail()`; the render does not), yamllint with the committed .yamllint.yaml over
the charts' YAML (templates/ is Go templates, not YAML), Chart.yaml rules and README freshness.
The appVersion rule is shared with the release rules (webstack.checks.release_rules).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from webstack import helm
from webstack.errors import InputError
from webstack.paths import REPO_ROOT
from webstack.render import NAMESPACE, RELEASE
from webstack.report import Finding, Severity, yaml_value
from webstack.values import ValuesSet
from webstack.versioning import is_semver
from webstack.yamlfile import load_mapping, read_text

YAMLLINT_CONFIG = REPO_ROOT / ".yamllint.yaml"
_HELM_LINE = re.compile(r"^\[(INFO|WARNING|ERROR)\]\s+(?:([^:]+?):\s+)?(.*)$")
_HELM_SEVERITY = {"INFO": Severity.INFO, "WARNING": Severity.WARNING, "ERROR": Severity.ERROR}
# `execution error at (webstack/charts/x/templates/y.yaml:1:4): msg` (fail) or `template: <file>:3:5: msg`
_RENDER_ERROR = re.compile(r"^(?:execution error at \(|template: )([^:()]+):(\d+)(?::\d+)?\)?:\s*(.*)$", re.S)
_SCHEMA_ERROR = "values don't meet the specifications of the schema"


def helm_lint(chart: Path, vs: ValuesSet) -> list[Finding]:
    res = helm.lint(chart, vs.files)
    out: list[Finding] = []
    for line in (res.stdout + "\n" + res.stderr).splitlines():
        m = _HELM_LINE.match(line.strip())
        if m:
            level, where, msg = m.groups()
            out.append(
                Finding(
                    str(chart / where) if where else str(chart),
                    chart.name,
                    where or "",
                    "HELM-LINT",
                    msg,
                    _HELM_SEVERITY[level],
                    "helm-lint",
                    vs.name,
                )
            )
    if res.returncode != 0 and not any(f.severity >= Severity.WARNING for f in out):
        out.append(
            Finding(
                str(chart),
                chart.name,
                "",
                "HELM-LINT",
                (res.stderr or res.stdout).strip(),
                Severity.ERROR,
                "helm-lint",
                vs.name,
            )
        )
    return out


def render_findings(chart: Path, vs: ValuesSet) -> list[Finding]:
    """`helm template` with the values set: a failed render (a template's `fail()`, a template error) is an
    ERROR at the template's file:line with helm's message. helm lint only logs a `fail()` and passes.
    Values the schema refuses are left to helm lint, which reports them."""
    res = helm.template(helm.Template(chart, RELEASE, NAMESPACE, vs.files), check=False)
    if res.returncode == 0:
        return []
    text = res.stderr.split("Error: ", 1)[-1].split("\n\nUse --debug", 1)[0].strip()
    if text.startswith(_SCHEMA_ERROR):
        return []
    where, template = str(chart), ""
    if m := _RENDER_ERROR.match(text):
        source, line, text = m.groups()
        template = source.split("/", 1)[-1]  # helm names the file from the chart's name, not its folder
        where = f"{chart / template}:{line}"
    values = ", ".join(map(str, vs.files)) or f"{chart / 'values.yaml'} (the chart defaults)"
    return [
        Finding(
            where,
            template or chart.name,
            "",
            "RENDER-FAILED",
            f"{text.strip()} (values: {values})",
            Severity.ERROR,
            "render",
            vs.name,
        )
    ]


@functools.cache
def _yamllint_config(path: Path) -> Any:
    from yamllint.config import YamlLintConfig, YamlLintConfigError

    if not path.is_file():
        raise InputError(f"{path}: the committed yamllint config is missing")
    try:
        return YamlLintConfig(file=str(path))
    except YamlLintConfigError as exc:
        raise InputError(f"{path}: invalid yamllint config: {exc}") from exc


def yaml_files(chart_dir: Path) -> list[Path]:
    """The charts' YAML files, skipping templates/ (Go templates) and anything .helmignore-like hidden."""
    out = []
    for p in sorted(chart_dir.rglob("*")):
        rel = p.relative_to(chart_dir).parts
        if (
            p.suffix in (".yaml", ".yml")
            and p.is_file()
            and "templates" not in rel
            and not any(part.startswith(".") for part in rel)
        ):
            out.append(p)
    return out


def yamllint(chart_dir: Path, config: Path = YAMLLINT_CONFIG) -> list[Finding]:
    from yamllint import linter

    conf = _yamllint_config(config)
    out = []
    for path in yaml_files(chart_dir):
        for problem in linter.run(read_text(path, "YAML"), conf, str(path)):
            sev = Severity.ERROR if problem.level == "error" else Severity.WARNING
            out.append(
                Finding(
                    f"{path}:{problem.line}:{problem.column}",
                    path.name,
                    "",
                    f"YAMLLINT-{(problem.rule or 'syntax').upper()}",
                    problem.desc,
                    sev,
                    "yamllint",
                )
            )
    return out


REQUIRED_FIELDS = ("apiVersion", "name", "version", "description", "type", "appVersion")


def app_version_rule(chart_yaml: Path, meta: dict[str, Any], app_version: str) -> Finding | None:
    """appVersion must equal the app's VERSION (shared by `webstack lint` and `webstack package`)."""
    if str(meta.get("appVersion", "")) == app_version:
        return None
    return Finding(str(chart_yaml), "Chart.yaml", "appVersion", "CHART-APP-VERSION",
                   f"appVersion {yaml_value(meta.get('appVersion'))} differs from the app's VERSION "
                   f"{yaml_value(app_version)}",
                   Severity.ERROR, "chart-yaml")


def chart_yaml_rules(chart: Path, app_version: str | None) -> list[Finding]:
    """Chart.yaml: required fields, apiVersion v2, SemVer version, appVersion, dependency conditions."""
    path = chart / "Chart.yaml"
    meta = load_mapping(path, "Chart.yaml")

    def f(field: str, rule: str, msg: str, sev: Severity = Severity.ERROR) -> Finding:
        return Finding(str(path), "Chart.yaml", field, rule, msg, sev, "chart-yaml")

    out = [f(k, "CHART-REQUIRED-FIELD", f"{k} is required") for k in REQUIRED_FIELDS if not meta.get(k)]
    if meta.get("apiVersion") and meta["apiVersion"] != "v2":
        out.append(f("apiVersion", "CHART-API-VERSION", f"must be v2, is {yaml_value(meta['apiVersion'])}"))
    if meta.get("version") and not is_semver(str(meta["version"])):
        out.append(
            f("version", "CHART-SEMVER",
              f"{yaml_value(meta['version'])} is not strict SemVer (MAJOR.MINOR.PATCH)")
        )
    if meta.get("name") and meta["name"] != chart.name:
        out.append(
            f(
                "name",
                "CHART-NAME-DIR",
                f"name {meta['name']!r} differs from its directory {chart.name!r}",
                Severity.WARNING,
            )
        )
    if not meta.get("kubeVersion") and chart.parent.name != "charts":
        out.append(f("kubeVersion", "CHART-KUBE-VERSION", "no kubeVersion constraint", Severity.WARNING))
    if app_version is not None and (found := app_version_rule(path, meta, app_version)):
        out.append(found)
    for i, dep in enumerate(meta.get("dependencies") or []):
        if not dep.get("condition"):
            out.append(
                f(
                    f"dependencies[{i}].condition",
                    "CHART-DEPENDENCY-CONDITION",
                    f"dependency {yaml_value(dep.get('name'))} has no condition "
                    f"(e.g. {dep.get('name')}.enabled)",
                )
            )
        if not (chart / "charts" / str(dep.get("name"))).is_dir() and not str(dep.get("repository", "")):
            out.append(
                f(
                    f"dependencies[{i}]",
                    "CHART-DEPENDENCY-MISSING",
                    f"{yaml_value(dep.get('name'))} is neither under charts/ nor from a repository",
                )
            )
    if meta.get("dependencies") and not (chart / "Chart.lock").is_file():
        out.append(
            f(
                "dependencies",
                "CHART-LOCK",
                "Chart.lock is missing: run `helm dependency update`",
                Severity.WARNING,
            )
        )
    return out


def readme_findings(chart_dir: Path) -> list[Finding]:
    """Stale generated files (READMEs, values schemas' shared definitions), as webstack.docs judges them."""
    from webstack import docs

    rules = {"README.md": "README-STALE", "values.schema.json": "SCHEMA-DEFINITIONS-STALE"}
    return [Finding(str(p), p.name, "", rules[p.name], f"{docs.STALE[p.name]}: run `make docs`",
                    Severity.ERROR, "readme") for p in docs.stale(chart_dir)]


def uses_helm_docs(chart_dir: Path) -> bool:
    """The README rules apply to charts that opt in to helm-docs with a README template."""
    from webstack.docs import TEMPLATE

    return (chart_dir / TEMPLATE).is_file()
