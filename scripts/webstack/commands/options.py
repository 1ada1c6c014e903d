"""The options and the report every findings command shares (check, lint, validate, render's chart
options): one place, so each flag means the same everywhere.

Exit codes (webstack.errors): findings reaching --fail-on exit 1; bad input or a missing tool exits 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from webstack.paths import CHART_DIR


def add_chart_options(p: argparse.ArgumentParser, values_help: str) -> None:
    """--chart and --values (-f), the same for render, check and lint."""
    p.add_argument("--chart", type=Path, default=CHART_DIR, help="chart directory (default: charts/webstack)")
    p.add_argument("--values", "-f", type=Path, action="append", default=[], metavar="FILE", help=values_help)


def add_report_options(p: argparse.ArgumentParser) -> None:
    from webstack.report import FORMATS

    p.add_argument("--format", choices=FORMATS, default="text",
                   help="report format (sarif: SARIF 2.1.0 for code-scanning UIs)")
    p.add_argument("--output", type=Path, metavar="FILE",
                   help="write the report to this file (atomically) instead of stdout; an existing FILE "
                   "is replaced only if webstack wrote it")
    p.add_argument("--force", action="store_true",
                   help="replace --output FILE even if webstack did not write it")
    p.add_argument(
        "--fail-on",
        choices=("error", "warning", "info"),
        default="warning",
        help="exit 1 when a finding reaches this severity (default: warning)",
    )


def check_output(args: argparse.Namespace) -> None:
    """Pre-flight for --output, before any work: a bad report location fails at once."""
    from webstack import outputs

    if args.output:
        outputs.check_file(args.output, force=args.force)


def emit(
    findings: Sequence, checks: Sequence[str], args: argparse.Namespace, suite: str, summary: str
) -> int:
    """Write the report; return 1 when a finding reaches --fail-on, else 0."""
    import io

    from webstack import outputs, report

    if args.format == "json":
        text = report.findings_json(findings)
    elif args.format == "junit":
        text = report.findings_junit(findings, suite, checks)
    elif args.format == "sarif":
        from webstack.sarif import findings_sarif

        text = findings_sarif(findings, suite, getattr(args, "chart", None))
    else:
        buf = io.StringIO() if args.output else sys.stdout
        if args.output:
            print(outputs.TEXT_MARK, file=buf)
        report.findings_text(findings, buf, title=f"{suite} findings")
        print(summary, file=buf)
        text = buf.getvalue() if args.output else None
    if args.output:
        outputs.write_file(args.output, text)
    elif text is not None and args.format != "text":
        print(text)
    if args.format != "text" or args.output:
        print(summary, file=sys.stderr)
    threshold = report.Severity.parse(args.fail_on)
    return 1 if any(f.severity >= threshold for f in findings) else 0


def summarize(findings: Sequence) -> str:
    from webstack.report import Severity

    counts = {s: sum(1 for f in findings if f.severity == s) for s in Severity}
    return ", ".join(f"{counts[s]} {s}" for s in reversed(Severity))


