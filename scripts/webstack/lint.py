"""`webstack lint`: the chart rules (webstack.checks.chart_rules) over chart x values matrix (the
umbrella and each subchart), and the version-bump rule against a git base. Independent parts run
concurrently.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from webstack.chart import Chart
from webstack.checks.chart_rules import (
    chart_yaml_rules,
    helm_lint,
    readme_findings,
    render_findings,
    uses_helm_docs,
    yamllint,
)
from webstack.errors import InputError
from webstack.paths import APP_DIR
from webstack.report import Finding
from webstack.values import ValuesSet
from webstack.versioning import bump_findings


def app_version(app_dir: Path = APP_DIR) -> str | None:
    path = app_dir / "VERSION"
    return path.read_text().strip() if path.is_file() else None


def run_lint(
    chart_dir: Path,
    sets: list[ValuesSet],
    *,
    base_ref: str | None = None,
    app_version_value: str | None = None,
    workers: int = 4,
) -> tuple[list[Finding], list[str]]:
    """All lint findings and the names of the parts that ran."""
    subs = Chart.load(chart_dir).subchart_dirs  # a broken chart: InputError naming file and line
    for vs in sets:
        for f in vs.files:
            if not f.is_file():
                raise InputError(f"{f}: values file does not exist")
    jobs = [(lambda vs=vs: helm_lint(chart_dir, vs)) for vs in sets]
    jobs += [(lambda s=s: helm_lint(s, ValuesSet("default"))) for s in subs]
    jobs += [(lambda vs=vs: render_findings(chart_dir, vs)) for vs in sets]
    jobs += [(lambda s=s: render_findings(s, ValuesSet("default"))) for s in subs]
    jobs.append(lambda: yamllint(chart_dir))
    jobs.append(lambda: chart_yaml_rules(chart_dir, app_version_value))
    jobs += [(lambda s=s: chart_yaml_rules(s, None)) for s in subs]
    parts = ["helm-lint", "render", "yamllint", "chart-yaml"]
    if uses_helm_docs(chart_dir):
        jobs.append(lambda: readme_findings(chart_dir))
        parts.append("readme")
    if base_ref:
        jobs.append(lambda: bump_findings(chart_dir, base_ref))
        parts.append("version")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(j) for j in jobs]
        findings = [f for fut in futures for f in fut.result()]
    return findings, parts
