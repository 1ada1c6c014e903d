"""`webstack package`: package the chart into a Helm repository folder; `verify` and `push` it.

    webstack package [--output dist] [--sign --key NAME --keyring secring.gpg]
                     [--base-url URL] [--merge index.yaml] [--images-record dist/images.json]
    webstack package verify dist/webstack-1.0.0.tgz --keyring pubring.gpg
    webstack package push dist/webstack-1.0.0.tgz --registry oci://HOST/PATH [--plain-http] [--force]
                     [--cosign-key cosign.key]       # the .prov next to the package is pushed with it
    webstack package annotations            # the Artifact Hub annotations the chart should carry

Exit codes: 0 done; 1 a result says no (release rules broken, verification failed);
2 bad input or a tool failed (missing chart, key or file, version already pushed, helm error).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from webstack.report import Finding


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("package", help="package (and sign) the chart into a repository folder; verify, push",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chart", type=Path, default=None, help="chart directory (default: charts/webstack)")
    p.add_argument("--output", type=Path, default=Path("dist"),
                   help="repository folder (default: dist); new, empty or an earlier webstack output")
    p.add_argument("--sign", action="store_true",
                   help="sign with --key from --keyring (also on when $WEBSTACK_SIGNING_KEY is set)")
    p.add_argument("--key", default=os.environ.get("WEBSTACK_SIGNING_KEY"),
                   help="signing key name, e-mail or ID (default: $WEBSTACK_SIGNING_KEY)")
    p.add_argument("--keyring", type=Path, default=_env_path("WEBSTACK_KEYRING"),
                   help="legacy secret keyring from `gpg --export-secret-keys` (default: $WEBSTACK_KEYRING)")
    p.add_argument("--passphrase-file", type=Path, default=_env_path("WEBSTACK_PASSPHRASE_FILE"),
                   help="file holding the key's passphrase (default: $WEBSTACK_PASSPHRASE_FILE)")
    p.add_argument("--base-url", default=os.environ.get("WEBSTACK_REPO_URL"),
                   help="URL the repository is served from, written into index.yaml "
                        "(default: $WEBSTACK_REPO_URL; without it, URLs are relative to the index)")
    p.add_argument("--merge", type=Path, default=None,
                   help="published index.yaml to merge, so older versions stay listed")
    p.add_argument("--force", action="store_true",
                   help="replace a version already listed in --merge; write into an --output folder "
                        "webstack did not write")
    p.add_argument("--app-version-file", type=Path, default=None,
                   help="app VERSION file appVersion must equal (default: app/VERSION for charts/webstack)")
    p.add_argument("--base-ref", default=None,
                   help="git ref to compare chart files with for the version-bump rule (e.g. origin/main)")
    p.add_argument("--images-record", type=Path, default=None,
                   help="record of published images (`webstack images push` writes it) the chart's default "
                        "app image must be in (default: OUTPUT/images.json when it exists)")
    p.set_defaults(func=run_package)
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    v = actions.add_parser("verify", help="verify a package's provenance (.prov) against a public keyring")
    v.add_argument("package", type=Path)
    v.add_argument("--keyring", type=Path, required=True, dest="verify_keyring",
                   help="public keyring from `gpg --export NAME > pubring.gpg`")
    v.set_defaults(func=run_verify)

    u = actions.add_parser("push", help="push a package to an OCI registry, never overwriting a version")
    u.add_argument("package", type=Path)
    u.add_argument("--registry", required=True, help="oci://HOST[:PORT]/PATH")
    u.add_argument("--plain-http", action="store_true", help="talk HTTP, not HTTPS (a local registry)")
    u.add_argument("--force", action="store_true", dest="push_force",
                   help="replace a version that already exists in the registry")
    u.add_argument("--cosign-key", type=Path, default=None,
                   help="sign the pushed chart's digest with this cosign private key (password in "
                        "$COSIGN_PASSWORD; offline: no transparency log)")
    u.set_defaults(func=run_push)

    a = actions.add_parser("annotations", help="print the Artifact Hub annotations the chart should carry")
    a.set_defaults(func=run_annotations)


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _chart_dir(args: argparse.Namespace) -> Path:
    from webstack.paths import CHART_DIR

    return args.chart if args.chart is not None else CHART_DIR


def run_package(args: argparse.Namespace) -> int:
    from webstack import package
    from webstack.checks import release_rules
    from webstack.errors import InputError
    from webstack.paths import APP_DIR, CHART_DIR
    from webstack.report import findings_text

    chart_dir = _chart_dir(args)
    key = None
    if args.sign or args.key:
        if not args.key:
            raise InputError("--sign needs --key NAME (or $WEBSTACK_SIGNING_KEY)")
        keyring = args.keyring or Path.home() / ".gnupg" / "secring.gpg"
        key = package.SigningKey(args.key, keyring, args.passphrase_file)
    app_version_file = args.app_version_file
    if app_version_file is None and chart_dir.resolve() == CHART_DIR.resolve():
        app_version_file = APP_DIR / "VERSION"
    published = _published(args, chart_dir)

    def rules(chart: Path, meta: dict[str, Any]) -> list[Finding]:
        found = release_rules.findings(chart, meta, app_version_file, published)
        if args.base_ref:  # git compares the real chart folder, not the copy
            found += _version_bump_findings(chart_dir, args.base_ref)
        return found

    try:
        done = package.package(chart_dir, args.output, key=key, base_url=args.base_url, merge=args.merge,
                               force=args.force, rules=rules)
    except package.ReleaseRulesBroken as exc:
        findings_text(exc.findings, sys.stderr, title="release problems")
        print(exc, file=sys.stderr)
        return exc.exit_code
    signed = f", signed ({done.provenance.name})" if done.provenance else ", unsigned"
    print(f"packaged {done.name} {done.version}: {done.chart}{signed}")
    index = package.load_index(done.index)
    print(f"index {done.index}: {done.name} {', '.join(package.indexed_versions(index, done.name))}")
    return 0


def _published(args: argparse.Namespace, chart_dir: Path) -> tuple[Path, list] | None:
    """The images record to check the app image against, read (and so checked) before any work."""
    from webstack.checks import release_rules
    from webstack.images import record

    path = args.images_record
    if path is None and (args.output / "images.json").is_file():
        path = args.output / "images.json"
    if (path is None and (chart_dir / "Chart.yaml").is_file()
            and release_rules.app_image(chart_dir) is not None):
        print(f"note: the chart's default app image was not checked against a published image: no "
              f"{args.output / 'images.json'} (`webstack images push` writes it; --images-record FILE)",
              file=sys.stderr)
    if path is None:
        return None
    return path, record.load(path)


def _version_bump_findings(chart_dir: Path, base_ref: str) -> list[Finding]:
    """The shared version-bump rule (webstack.versioning, also used by `webstack lint`), in the git
    repository that holds the chart (this checkout for charts/webstack)."""
    import subprocess

    from webstack import versioning
    from webstack.paths import REPO_ROOT

    top = subprocess.run(["git", "-C", str(chart_dir), "rev-parse", "--show-toplevel"], capture_output=True,
                         text=True, check=False).stdout.strip()
    return versioning.bump_findings(chart_dir, base_ref, Path(top) if top else REPO_ROOT)


def run_verify(args: argparse.Namespace) -> int:
    from webstack import package

    signer = package.verify(args.package, args.verify_keyring)
    print(f"verified {args.package}: signed by {signer}, digest matches")
    return 0


def run_push(args: argparse.Namespace) -> int:
    from webstack import cosign, registry

    if args.cosign_key is not None:
        cosign.check_private_key(args.cosign_key)
    pushed = registry.push(args.package, args.registry, plain_http=args.plain_http, force=args.push_force)
    verb = "replaced" if pushed.replaced else "pushed"
    prov = " with its provenance (.prov)" if pushed.provenance else ""
    print(f"{verb} {pushed.ref} ({pushed.digest}){prov}")
    if args.cosign_key is not None:
        signed = pushed.ref.removeprefix("oci://").rsplit(":", 1)[0] + "@" + pushed.digest
        print(f"signing {signed} with cosign (no transparency log)", file=sys.stderr, flush=True)
        cosign.sign(signed, args.cosign_key, plain_http=args.plain_http)
        print(f"signed {signed} with {args.cosign_key}")
    return 0


def run_annotations(args: argparse.Namespace) -> int:
    import yaml

    from webstack.checks import release_rules

    expected = release_rules.expected_annotations(_chart_dir(args))
    block = {k: yaml.safe_dump(v, sort_keys=False, width=200) for k, v in expected.items()}

    class Literal(str):
        pass

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(Literal, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|"))
    doc = {"annotations": {k: Literal(v) for k, v in block.items()}}
    print(yaml.dump(doc, Dumper=Dumper, sort_keys=False, width=200), end="")
    return 0
