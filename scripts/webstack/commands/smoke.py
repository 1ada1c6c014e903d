"""`webstack smoke`: the main job. Start a cluster, run the release lifecycle, report, tear down."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from webstack.cluster import PROVIDERS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("smoke", help="install, test, upgrade, roll back and uninstall on a local cluster")
    p.add_argument(
        "--provider",
        choices=PROVIDERS,
        default="node",
        help="node (default: a real single-node Kubernetes here, containers really run; needs root), "
        "kwok (local control plane, simulated pods), kind (needs Docker with privileged containers), "
        "existing (current kubeconfig context)",
    )
    p.add_argument(
        "--report-dir",
        type=Path,
        metavar="DIR",
        help="write smoke.json and smoke.junit.xml here (and component logs when something fails); "
        "DIR must be new, empty or an earlier webstack output",
    )
    p.add_argument("--force", action="store_true",
                   help="write into --report-dir even if webstack did not write what it holds")
    p.add_argument("--scenario", type=Path, help="lifecycle scenario YAML (default: the webstack chart's)")
    p.add_argument("--chart", type=Path, help="chart directory (overrides the scenario's)")
    p.add_argument("--namespace", default="webstack-smoke", help="namespace to create (must not exist)")
    p.add_argument(
        "--base-ref",
        default="HEAD",
        help="git ref whose chart is upgraded to the working tree (default HEAD)",
    )
    p.add_argument("--kubeconfig", type=Path, help="existing provider: kubeconfig (default $KUBECONFIG)")
    p.add_argument("--context", help="existing provider: kubeconfig context")
    p.add_argument("--nodes", type=int, default=1, metavar="N",
                   help="node provider: nodes to start (1 to 3, default 1); with 2 or more the lifecycle "
                   "also drains a node and loses one")
    p.add_argument(
        "--matrix",
        action="store_true",
        help="instead of the lifecycle: install every ci/*-values.yaml of --chart at once, each in its own "
        "restricted namespace (install, helm test, assertions, uninstall); one row per values file",
    )
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="--matrix: values files installed at a time (default 16: all of a usual chart)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from webstack import outputs
    from webstack.cluster import check_nodes
    from webstack.errors import InputError
    from webstack.lifecycle import SmokeOptions, smoke
    from webstack.report import steps_text

    if args.report_dir:  # before any cluster starts: a bad report folder fails at once
        outputs.check_dir(args.report_dir, force=args.force)
    check_nodes(args.provider, args.nodes)
    if args.matrix and args.nodes != 1:
        raise InputError(f"--nodes {args.nodes} applies to the lifecycle, not to --matrix")
    if args.matrix:
        return run_matrix(args)
    if args.jobs is not None:
        raise InputError("--jobs applies to --matrix only")

    def announce(step: object) -> None:
        s = step  # a report.Step
        print(f"  {s.result:<7} {s.name} ({s.seconds:.1f}s)", file=sys.stderr, flush=True)  # type: ignore[attr-defined]

    steps = smoke(
        SmokeOptions(
            provider=args.provider,
            scenario=args.scenario,
            chart=args.chart,
            namespace=args.namespace,
            base_ref=args.base_ref,
            report_dir=args.report_dir,
            kubeconfig=args.kubeconfig,
            context=args.context,
            nodes=args.nodes,
        ),
        on_step=announce,
    )
    total = sum(s.seconds for s in steps)
    steps_text(steps, stream=sys.stdout, title=f"webstack smoke on {args.provider}: {total:.1f}s")
    if args.report_dir:
        print(f"reports: {args.report_dir / 'smoke.json'}, {args.report_dir / 'smoke.junit.xml'}")
    return 1 if any(s.result == "failed" for s in steps) else 0


def run_matrix(args: argparse.Namespace) -> int:
    from webstack.errors import InputError
    from webstack.lifecycle.matrix import DEFAULT_JOBS, MatrixOptions, Row, matrix, rows_text

    if args.scenario:
        raise InputError("--scenario does not apply to --matrix: it installs the ci/*-values.yaml of --chart")
    jobs = DEFAULT_JOBS if args.jobs is None else args.jobs
    if jobs < 1:
        raise InputError(f"--jobs {jobs}: expected at least 1")

    def announce(r: Row) -> None:  # each row as it completes
        print(f"  {r.result:<7} {r.values_file} (install {r.install_s:.1f}s, test {r.test_s:.1f}s)",
              file=sys.stderr, flush=True)

    started = time.monotonic()
    rows, steps = matrix(
        MatrixOptions(provider=args.provider, chart=args.chart, jobs=jobs, report_dir=args.report_dir,
                      kubeconfig=args.kubeconfig, context=args.context),
        on_row=announce,
    )
    failed = sum(r.result != "passed" for r in rows)
    rows_text(rows, stream=sys.stdout,
              title=f"webstack smoke --matrix on {args.provider}: {len(rows)} values files, {failed} failed, "
              f"{time.monotonic() - started:.1f}s wall (cluster start and stop included)")
    if args.report_dir:
        print(f"reports: {args.report_dir / 'smoke.json'}, {args.report_dir / 'smoke.junit.xml'}")
    return 1 if failed or not rows or any(s.result == "failed" for s in steps) else 0
