"""`webstack check`: the static gate over the values matrix (values schema, Kubernetes schema per
version, policy, references, upgrade safety), reported as a table, JSON, JUnit XML or SARIF.

Also home of the report options shared with `webstack lint` (--format, --output, --force, --fail-on).
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


def register(sub: argparse._SubParsersAction) -> None:
    from webstack.checks import ALL_CHECKS

    p = sub.add_parser(
        "check",
        help="values schema, Kubernetes schema, policy, references and upgrade safety",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_chart_options(p, "check this values set (files layered in order) instead of the ci matrix")
    p.add_argument(
        "--matrix",
        action="store_true",
        help="also check the defaults and every ci/*-values.yaml (the default when no --values is given)",
    )
    p.add_argument(
        "--kube-version",
        nargs="+",
        action="extend",
        default=[],
        metavar="VERSION",
        help="Kubernetes versions to validate against (default: 1.30 and the latest available)",
    )
    p.add_argument(
        "--check",
        action="append",
        choices=ALL_CHECKS,
        default=[],
        dest="checks",
        help="run only these checks (repeatable; default: all but server, which starts a kube-apiserver)",
    )
    p.add_argument(
        "--external",
        action="append",
        default=[],
        metavar="KIND/NAME",
        help="an object that exists outside the chart (e.g. Secret/db-credentials)",
    )
    p.add_argument(
        "--base-ref", metavar="GIT_REF", help="upgrade safety: compare with the chart at this git ref"
    )
    p.add_argument("--crd", type=Path, action="append", default=[], metavar="FILE",
                   help="a CustomResourceDefinition file to validate custom resources by (repeatable)")
    p.add_argument(
        "--previous-values",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="upgrade safety: compare with a render of the current chart with these values",
    )
    add_report_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from webstack.checks import DEFAULT_CHECKS, ValuesRejected, run_gate
    from webstack.checks import kubernetes as kube
    from webstack.errors import InputError
    from webstack.values import select

    check_output(args)
    for ext in args.external:
        if "/" not in ext:
            raise InputError(f"--external {ext!r}: expected KIND/NAME, e.g. Secret/db-credentials")
    versions = [kube.normalize_version(v) for v in args.kube_version] or kube.default_versions()
    sets = select(args.chart, args.values, args.matrix or not args.values)
    checks = tuple(args.checks) or DEFAULT_CHECKS
    if "upgrade" in args.checks and not (args.base_ref or args.previous_values):
        raise InputError("--check upgrade compares with an earlier render: give --base-ref GIT_REF or "
                         "--previous-values FILE (without either there is nothing to compare with)")
    try:
        result = run_gate(
            args.chart,
            sets,
            versions,
            checks=checks,
            externals=set(args.external),
            base_ref=args.base_ref,
            previous_values=args.previous_values or None,
            crd_files=tuple(args.crd),
        )
    except ValuesRejected as exc:  # findings like any other (exit 1), but nothing could be rendered
        summary = f"check: values rejected, nothing rendered: {summarize(exc.findings)}"
        return emit(exc.findings, ["values"], args, "check", summary)
    objects = sum(len(r.manifests) for r in result.renders.values())
    summary = (
        f"check: {objects} objects in {len(sets)} values set(s) x Kubernetes {', '.join(versions)}; "
        f"checks {', '.join(result.checks)}: {summarize(result.findings)}"
    )
    return emit(result.findings, result.checks, args, "check", summary)
