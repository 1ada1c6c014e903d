"""Reports for people (a table, coloured on a TTY) and machines (JSON, JUnit XML).

Two record types cover every command: a Finding (one problem the static gate found) and a Step
(one stage of a lifecycle, such as install or upgrade, with its result and duration). Every JSON and
JUnit report carries webstack's generator mark (webstack.outputs), so a later run may replace the file.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import IO, Any, Literal

from webstack.outputs import GENERATOR, XML_MARK

Format = Literal["text", "json", "junit", "sarif"]
FORMATS: tuple[Format, ...] = ("text", "json", "junit", "sarif")


class Severity(IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.upper()]

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, order=True)
class Finding:
    """One problem: where it is (file, object, path inside it), which rule, what is wrong."""

    file: str
    object: str
    path: str
    rule: str
    message: str
    severity: Severity = Severity.ERROR
    check: str = ""  # the check that produced it (values, kubernetes, policy, references, upgrade, lint)
    context: str = ""  # the values set or Kubernetes version it was found under

    def to_dict(self) -> dict[str, str]:
        d = asdict(self)
        d["severity"] = str(self.severity)
        return d


@dataclass
class Step:
    """One stage of a lifecycle run."""

    name: str
    result: Literal["passed", "failed", "skipped"]
    seconds: float
    detail: str = ""
    data: dict[str, object] = field(default_factory=dict)


def yaml_value(value: Any, limit: int = 80) -> str:
    """`value` as a values file would say it (YAML flow): true/false/null, strings double-quoted,
    [lists] and {maps}; long ones cut. Every message about a value speaks this, never Python."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar
    elif isinstance(value, list):
        text = "[" + ", ".join(yaml_value(v, limit) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {yaml_value(v, limit)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _console(stream: IO[str]):
    from rich.console import Console

    return Console(file=stream, highlight=False, soft_wrap=False, width=None if stream.isatty() else 200)


_SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_RESULT_STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow"}


def findings_text(findings: Sequence[Finding], stream: IO[str] = sys.stdout, title: str = "findings") -> None:
    from rich.table import Table

    console = _console(stream)
    if not findings:
        console.print(f"[green]no {title}[/green]")
        return
    table = Table(title=f"{len(findings)} {title}", show_lines=False, expand=False)
    for col in ("severity", "file", "object", "path", "rule", "message", "context"):
        table.add_column(col, overflow="fold")
    for f in sorted(findings, key=lambda f: (-f.severity, f.file, f.object, f.path, f.rule)):
        sev = f"[{_SEVERITY_STYLE[f.severity]}]{f.severity}[/]"
        table.add_row(sev, f.file, f.object, f.path, f.rule, f.message, f.context)
    console.print(table)


def findings_json(findings: Sequence[Finding]) -> str:
    return json.dumps({"generator": GENERATOR, "findings": [f.to_dict() for f in findings],
                       "count": len(findings)}, indent=2)


def findings_junit(findings: Sequence[Finding], suite: str, checks: Sequence[str]) -> str:
    """One testcase per check that ran; each finding is a failure inside its check's testcase."""
    root = ET.Element("testsuites", name=suite)
    by_check: dict[str, list[Finding]] = {c: [] for c in checks}
    for f in findings:
        by_check.setdefault(f.check or "findings", []).append(f)
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(by_check)),
                       failures=str(sum(1 for v in by_check.values() if v)))
    for check, items in by_check.items():
        tc = ET.SubElement(ts, "testcase", classname=suite, name=check)
        for f in items:
            fail = ET.SubElement(tc, "failure", type=f.rule, message=f"{f.object} {f.path}: {f.message}")
            fail.text = json.dumps(f.to_dict())
    return _junit(root)


def steps_text(steps: Sequence[Step], stream: IO[str] = sys.stdout, title: str = "steps") -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in ("step", "result", "duration", "detail"):
        table.add_column(col, overflow="fold")
    for s in steps:
        table.add_row(s.name, f"[{_RESULT_STYLE[s.result]}]{s.result}[/]", f"{s.seconds:.1f}s", s.detail)
    _console(stream).print(table)


def steps_json(steps: Sequence[Step]) -> str:
    return json.dumps({"generator": GENERATOR, "steps": [asdict(s) for s in steps],
                       "passed": all(s.result != "failed" for s in steps)}, indent=2, default=str)


def steps_junit(steps: Sequence[Step], suite: str) -> str:
    root = ET.Element("testsuites", name=suite)
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(steps)),
                       failures=str(sum(s.result == "failed" for s in steps)),
                       skipped=str(sum(s.result == "skipped" for s in steps)),
                       time=f"{sum(s.seconds for s in steps):.3f}")
    for s in steps:
        tc = ET.SubElement(ts, "testcase", classname=suite, name=s.name, time=f"{s.seconds:.3f}")
        if s.result == "failed":
            ET.SubElement(tc, "failure", message=s.detail[:500]).text = s.detail
        elif s.result == "skipped":
            ET.SubElement(tc, "skipped", message=s.detail)
    return _junit(root)


def _junit(root: ET.Element) -> str:
    """The XML declaration, then the generator mark (so webstack knows the file is its own), then the tree."""
    return f'<?xml version="1.0" encoding="utf-8"?>\n{XML_MARK}\n{ET.tostring(root, encoding="unicode")}'

