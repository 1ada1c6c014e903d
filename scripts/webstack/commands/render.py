"""`webstack render`: helm template per values set, to stdout or a folder per set (swapped in atomically)."""

from __future__ import annotations

import argparse
from pathlib import Path

from webstack.commands.options import add_chart_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="helm template per values set, to stdout or a folder")
    add_chart_options(p, values_help="values files layered in order (one values set)")
    p.add_argument("--matrix", action="store_true", help="the defaults and every ci/*-values.yaml")
    p.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="write DIR/<values set>/<chart>/templates/<file>.yaml instead of printing; DIR must be new, "
        "empty or an earlier render's",
    )
    p.add_argument("--force", action="store_true",
                   help="replace --output DIR even if webstack did not write what it holds")
    p.add_argument(
        "--no-values-check",
        action="store_true",
        help="skip the values schema check (helm still applies the schemas itself)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from webstack import outputs, render
    from webstack.checks import ValuesRejected, check_values
    from webstack.report import Severity
    from webstack.values import select

    if args.output:
        outputs.check_dir(args.output, force=args.force, replaces=True)
    sets = select(args.chart, args.values, args.matrix)
    if not args.no_values_check:
        bad = [f for f in check_values(args.chart, sets) if f.severity >= Severity.ERROR]
        if bad:
            raise ValuesRejected(bad)
    renders = render.render_all(args.chart, sets)
    if args.output:
        render.write_dir(renders, args.output, force=args.force)
        total = sum(len(r.manifests) for r in renders.values())
        print(
            f"rendered {total} objects for {len(renders)} values set(s) into {args.output}", file=sys.stderr
        )
    else:
        sys.stdout.write(render.stream(renders))
    return 0
