"""`webstack images`: build the container images a real node imports (no registry needed).

    webstack images build [--app-version V ...] [--app-dir DIR] [--json]
    webstack images values [--app-version V]      # helm values pointing the chart at the built images
    webstack images push --registry HOST[:PORT]/PATH [--app-version V] [--plain-http] [--force]
                         [--record dist/images.json] [--cosign-key cosign.key]

`build` makes, or reuses from <cache>/images, a Debian base (mmdebstrap), the pod sandbox (pause)
image, one app image per version from app/Dockerfile, and stand-ins for the official mysql and
nginx-unprivileged images; each is a docker-archive for `ctr -n k8s.io images import`. Progress goes
to stderr, the table of images to stdout.

`push` publishes the app image (built or reused as above) to HOST[:PORT]/PATH/<the chart's
flask.image.repository>:<version>, the reference the chart names once flask.image.registry is
HOST[:PORT]/PATH; an existing tag is refused unless --force. It prints the manifest digest and
records it in --record (default dist/images.json), which `webstack package` holds the chart's
default app image against. With --cosign-key the pushed digest is signed (offline, no tlog).

Exit codes: 0 built, cached or pushed; 2 a build or push failed (one line naming the image, the
command and the log), a tag already exists, or a builder is missing (run `make setup`).
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
    u = actions.add_parser("push", help="publish the app image to an OCI registry and record its digest")
    u.add_argument("--registry", required=True, metavar="HOST[:PORT]/PATH",
                   help="where to push, as flask.image.registry names it, e.g. ghcr.io/acme")
    u.add_argument("--app-version", default=None, metavar="V",
                   help="app version to push (default: app/VERSION)")
    u.add_argument("--app-dir", type=Path, default=None,
                   help="the app's build context holding its Dockerfile (default: app/)")
    u.add_argument("--chart", type=Path, default=None,
                   help="chart whose flask.image.repository names the image (default: charts/webstack)")
    u.add_argument("--plain-http", action="store_true",
                   help="talk HTTP and skip TLS verification (a local registry)")
    u.add_argument("--force", action="store_true",
                   help="replace a tag that already exists; replace a --record file webstack did not write")
    u.add_argument("--record", type=Path, default=Path("dist") / "images.json",
                   help="JSON record of published images to add this push to (default: dist/images.json)")
    u.add_argument("--cosign-key", type=Path, default=None,
                   help="sign the pushed digest with this cosign private key (password in $COSIGN_PASSWORD)")
    u.set_defaults(func=run_push)


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


def run_push(args: argparse.Namespace) -> int:
    from webstack.errors import ImageBuildError
    from webstack.images import publish

    version = args.app_version if args.app_version is not None else _default_version()
    try:
        pushed = publish.push_app(version, args.registry, record_path=args.record, plain_http=args.plain_http,
                                  force=args.force, cosign_key=args.cosign_key, chart_dir=args.chart,
                                  app_dir=args.app_dir)
    except ImageBuildError as exc:
        print(f"error: {exc.summary}", file=sys.stderr)
        return exc.exit_code
    print(f"pushed {pushed.repository}:{pushed.tag} ({pushed.digest})")
    if pushed.signed:
        print(f"signed {pushed.by_digest} with {args.cosign_key}")
    print(f"recorded in {args.record}")
    return 0
