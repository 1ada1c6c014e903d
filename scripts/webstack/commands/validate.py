"""`webstack validate`: rendered manifests (files or stdin) against the Kubernetes schema of each
version, strict — what kubeconform does, for any chart's `helm template` output or plain manifests.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from webstack.commands.options import add_report_options, check_output, emit, summarize


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", description=__doc__,
                       help="rendered manifests against the Kubernetes schemas (like kubeconform)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="YAML manifest streams; - for stdin")
    p.add_argument("--kube-version", nargs="+", action="extend", default=[], metavar="VERSION",
                   help="Kubernetes versions to validate against (default: 1.30 and the latest available)")
    add_report_options(p)
    p.set_defaults(func=run)


def read(path: Path) -> str:
    from webstack.yamlfile import read_text

    return sys.stdin.read() if str(path) == "-" else read_text(path, "manifest")


def run(args: argparse.Namespace) -> int:
    from webstack.checks import kubernetes
    from webstack.manifests import parse_stream

    check_output(args)
    versions = [kubernetes.normalize_version(v) for v in args.kube_version] or kubernetes.default_versions()
    findings, objects = [], 0
    for path in args.files:
        manifests = parse_stream(read(path), origin=str(path))
        objects += len(manifests)
        findings += [f for v in versions for f in kubernetes.check(manifests, v, str(path))]
    if not objects:
        from webstack.errors import InputError

        files = ", ".join(map(str, args.files))
        raise InputError(f"{files}: no Kubernetes object found: nothing to validate")
    summary = (f"validate: {objects} objects x Kubernetes {', '.join(versions)}: {summarize(findings)}")
    return emit(findings, ["kubernetes"], args, "validate", summary)
