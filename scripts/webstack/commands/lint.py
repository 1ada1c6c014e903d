"""`webstack lint`: helm lint --strict over the chart x values matrix (and each subchart), yamllint with
the committed .yamllint.yaml, Chart.yaml rules, the version-bump rule against --base-ref, README freshness.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from webstack.commands.options import add_chart_options, add_report_options, check_output, emit, summarize
from webstack.paths import CHART_DIR


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lint",
        help="helm lint --strict, yamllint, Chart.yaml rules, version bump, README freshness",
        description=__doc__,
    )
    add_chart_options(p, values_help="lint with this values set instead of the ci matrix")
    p.add_argument(
        "--base-ref",
        default=os.environ.get("WEBSTACK_BASE_REF"),
        metavar="GIT_REF",
        help="version-bump rule: chart files changed since this ref need a greater version "
        "(default: $WEBSTACK_BASE_REF; not checked when unset)",
    )
    p.add_argument(
        "--app-version-file",
        type=Path,
        default=None,
        help="file holding the app version appVersion must equal (default: app/VERSION for "
        "charts/webstack, none for other charts)",
    )
    add_report_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from webstack import lint
    from webstack.values import select
    from webstack.yamlfile import read_text

    check_output(args)
    if args.app_version_file is not None:
        app_version = read_text(args.app_version_file, "app version").strip()
    else:
        app_version = lint.app_version() if args.chart.resolve() == CHART_DIR.resolve() else None
    sets = select(args.chart, args.values, not args.values)
    findings, parts = lint.run_lint(args.chart, sets, base_ref=args.base_ref, app_version_value=app_version)
    skipped = "" if args.base_ref else " (version bump not checked: no --base-ref)"
    if "readme" not in parts:
        skipped += f" (README rules skipped: {args.chart} has no README.md.gotmpl, it does not use helm-docs)"
    summary = f"lint: {len(sets)} values set(s), parts {', '.join(parts)}: {summarize(findings)}{skipped}"
    return emit(findings, parts, args, "lint", summary)
