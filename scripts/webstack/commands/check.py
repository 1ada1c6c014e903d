"""`webstack check`: the static gate over the values matrix (values schema, Kubernetes schema per
version, policy, references, hooks, upgrade safety, optionally a real API server), reported as a
table, JSON, JUnit XML or SARIF.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from webstack.commands.options import add_chart_options, add_report_options, check_output, emit, summarize


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
