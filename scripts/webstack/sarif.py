"""Findings as SARIF 2.1.0, the format code-scanning UIs (GitHub, GitLab, IDEs) read.

One run, one rule per rule id met, one result per finding. Helm names a rendered object's source
`<chart>/templates/x.yaml` (`<chart>/charts/<sub>/templates/...` for a subchart); the result points
at that file in the working tree, relative to the current folder, so a UI can annotate the template.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from webstack.report import Finding, Severity

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def artifact_location(file: str, chart_dir: Path | None, chart_name: str = "") -> dict[str, str]:
    """Where the finding's file is: relative to the current folder (%SRCROOT%) when it is under it."""
    path = Path(file)
    if chart_dir is not None and not path.is_absolute() and path.parts[:1] == (chart_name,):
        path = chart_dir.resolve().joinpath(*path.parts[1:])
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            return {"uri": path.as_uri()}
    return {"uri": path.as_posix(), "uriBaseId": "%SRCROOT%"}


def findings_sarif(findings: Sequence[Finding], tool: str, chart_dir: Path | None = None) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        tool_version = version("webstack-toolkit")
    except PackageNotFoundError:
        tool_version = "0"
    from webstack.chart import Chart

    chart_name = Chart.load(chart_dir).name if chart_dir is not None else ""
    rule_ids = sorted({f.rule for f in findings})
    index = {r: i for i, r in enumerate(rule_ids)}
    first = {f.rule: f for f in reversed(list(findings))}
    rules = [{"id": r, "name": r.replace("-", " ").title().replace(" ", ""),
              "shortDescription": {"text": f"{first[r].check or tool} rule {r}"},
              "defaultConfiguration": {"level": _LEVEL[first[r].severity]}} for r in rule_ids]
    results = []
    for f in findings:
        where = f"{f.object} {f.path}".strip()
        results.append({
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": _LEVEL[f.severity],
            "message": {"text": f"{where}: {f.message}" + (f" [{f.context}]" if f.context else "")},
            "locations": [{
                "physicalLocation": {"artifactLocation": artifact_location(f.file, chart_dir, chart_name)},
                "logicalLocations": [{"fullyQualifiedName": where, "kind": "object"}],
            }],
            "properties": {"check": f.check, "context": f.context, "object": f.object, "path": f.path},
        })
    doc = {
        "properties": {"generator": "webstack"},  # first: the mark outputs.is_ours looks for
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "webstack", "fullName": f"webstack {tool}",
                                "version": tool_version, "rules": rules}},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().as_uri() + "/"}},
            "results": results,
        }],
    }
    return json.dumps(doc, indent=2)
