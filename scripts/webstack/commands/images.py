"""`webstack images`: build the container images a real node imports (no registry needed).

    webstack images build [--app-version V ...] [--app-dir DIR] [--json]
    webstack images values [--app-version V]      # helm values pointing the chart at the built images

`build` makes, or reuses from <cache>/images, a Debian base (mmdebstrap), the pod sandbox (pause)
image, one app image per version from app/Dockerfile, and stand-ins for the official mysql and
nginx-unprivileged images; each is a docker-archive for `ctr -n k8s.io images import`. Progress goes
to stderr, the table of images to stdout.

Exit codes: 0 built or cached; 2 a build failed (one line naming the image, the command and the
log) or a builder is missing (run `make setup`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _default_version() -> str:
    from webstack.paths import APP_DIR

    return (APP_DIR / "VERSION").read_text().strip()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("images", help="build the container images a real node imports (no registry)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = actions.add_parser("build", help="build (or reuse) pause, app, mysql and nginx images")
    b.add_argument("--app-version", action="append", default=[], metavar="V",
                   help="app version to build, baked in as APP_VERSION (repeatable; default: app/VERSION)")
    b.add_argument("--app-dir", type=Path, default=None,
                   help="the app's build context holding its Dockerfile (default: app/)")
    b.add_argument("--json", action="store_true", help="print the images as JSON instead of a table")
    b.set_defaults(func=run_build)
    v = actions.add_parser("values", help="print helm values mapping the chart's images to the built ones")
    v.add_argument("--app-version", default=None, metavar="V", help="app version (default: app/VERSION)")
    v.set_defaults(func=run_values)


def run_build(args: argparse.Namespace) -> int:
    from webstack import images
    from webstack.errors import ImageBuildError

    versions = args.app_version or [_default_version()]
    try:
        built = images.build(versions, app_dir=args.app_dir)
    except ImageBuildError as exc:
        # One line: the log (named in it) holds the rest.
        print(f"error: {exc.summary}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        _print_json(built)
    else:
        _print_table(built)
    return 0


def _print_json(built: list) -> None:
    import dataclasses
    import json

    print(json.dumps([{**dataclasses.asdict(i), "archive": str(i.archive)} for i in built], indent=2))


def _print_table(built: list) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="images (import with `ctr -n k8s.io images import <archive>`)")
    for col in ("image", "reference", "stands in for", "state", "size", "archive"):
        table.add_column(col, overflow="fold")
    for i in built:
        size = f"{i.archive.stat().st_size / 2**20:.0f} MiB"
        table.add_row(i.name, i.ref, i.stands_in_for or "-", "built" if i.built else "cached", size,
                      str(i.archive))
    Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 240).print(table)


def run_values(args: argparse.Namespace) -> int:
    import yaml

    from webstack import images

    version = args.app_version or _default_version()
    built = images.build([version], progress=lambda _msg: None)
    print("# " + "\n# ".join(images.substitutions(built)))
    print(yaml.safe_dump(images.chart_values_overlay(built, version), sort_keys=False), end="")
    return 0
