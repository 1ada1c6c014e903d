"""Publish the app image to an OCI registry: `webstack images push`.

    push_app("1.0.0", "ghcr.io/acme") -> Published(repository="ghcr.io/acme/webstack/app", tag="1.0.0",
                                                   digest="sha256:...")

The image is the one `webstack images build` makes from app/Dockerfile (built or reused from the
cache), copied from its cached docker-archive by skopeo (no daemon, no buildah storage involved) to
<registry>/<the chart's flask.image.repository>:<version>, so that setting the chart's
`flask.image.registry` to <registry> names exactly the published image. Registries overwrite tags
silently, so an existing tag is refused unless forced. After the push the registry is asked for the
manifest again and its digest must be the one skopeo wrote. The digest is printed and recorded
(webstack.images.record) for the release rules; with a cosign key the pushed digest is signed.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from webstack import images
from webstack.errors import InputError, ToolchainError
from webstack.images import record
from webstack.images.buildah import Stage
from webstack.registry import RegistryError

# HOST[:PORT][/PATH]: the host must look like one (a dot, a port or localhost), as container tools
# otherwise read the first part as a Docker Hub namespace.
REGISTRY_RE = re.compile(r"^(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?P<port>:\d{1,5})?"
                         r"(?P<path>(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)$")
Progress = Callable[[str], None]


def check_registry(value: str) -> str:
    """`HOST[:PORT][/PATH]` without a scheme or trailing slash, as the chart's `image.registry` takes it."""
    v = value.strip().rstrip("/")
    m = REGISTRY_RE.match(v)
    if "://" in v or not m or not (m["port"] or "." in m["host"] or m["host"] == "localhost"):
        raise InputError(f"--registry {value!r}: expected HOST[:PORT][/PATH] without a scheme, the value "
                         "flask.image.registry takes, e.g. ghcr.io/acme or 127.0.0.1:5000/mirror")
    return v


def require_skopeo() -> str:
    found = shutil.which("skopeo")
    if not found:
        raise ToolchainError("pushing images needs skopeo, which is not installed: run `make setup` "
                             "(or `apt-get install -y skopeo`)")
    return found


def _tls(plain_http: bool, flag: str = "--tls-verify") -> list[str]:
    return [f"{flag}=false"] if plain_http else []


def _said(res: subprocess.CompletedProcess[str]) -> str:
    text = (res.stderr or res.stdout).strip()
    # skopeo's fatal lines: time="..." level=fatal msg="..."; keep the message
    m = re.search(r'msg="(.*)"\s*$', text.splitlines()[-1] if text else "")
    return (m[1].replace('\\"', '"') if m else text) or f"exit {res.returncode}"


def manifest_digest(ref: str, *, plain_http: bool) -> str | None:
    """The digest of the manifest the registry serves for `ref`, None when it has no such tag; an
    unreachable registry (or any other failure) is an error, never taken as 'not there'."""
    res = subprocess.run([require_skopeo(), "inspect", "--raw", *_tls(plain_http), f"docker://{ref}"],
                         capture_output=True, check=False)
    if res.returncode == 0:
        return "sha256:" + hashlib.sha256(res.stdout).hexdigest()
    said = _said(subprocess.CompletedProcess(res.args, res.returncode, res.stdout.decode(errors="replace"),
                                             res.stderr.decode(errors="replace")))
    if re.search(r"manifest unknown|name unknown|not found", said, re.IGNORECASE):
        return None
    hint = " (a local registry without TLS needs --plain-http)" if "HTTP response to HTTPS" in said else ""
    raise RegistryError(f"cannot ask the registry whether {ref} exists: {said}{hint}")


def push_app(version: str, registry: str, *, record_path: Path | None = record.DEFAULT,
             plain_http: bool = False, force: bool = False, cosign_key: Path | None = None,
             chart_dir: Path | None = None, app_dir: Path | None = None,
             progress: Progress | None = None) -> record.Published:
    """Build (or reuse) the app image for `version` and push it to `registry`; see the module doc."""
    from webstack import cosign
    from webstack.checks import release_rules
    from webstack.paths import CHART_DIR

    say = progress or (lambda msg: print(f"images: {msg}", file=sys.stderr, flush=True))
    registry = check_registry(registry)
    if not version.strip():
        raise InputError("--app-version is empty: give the version to publish (e.g. app/VERSION's)")
    chart = release_rules.app_image(chart_dir or CHART_DIR)
    if chart is None:
        raise InputError(f"{chart_dir or CHART_DIR}: no flask image block, so there is no app repository "
                         "to push to")
    kept = record.check(record_path, force=force) if record_path else []
    if cosign_key is not None:
        cosign.check_private_key(cosign_key)
    require_skopeo()

    repository = f"{registry}/{chart.repository}"
    dest = f"{repository}:{version}"
    (built,) = images.build([version], names=["app"], app_dir=app_dir, progress=say)
    with images.locked():  # the cached archive stays put while it is read
        before = manifest_digest(dest, plain_http=plain_http)
        if before and not force:
            raise RegistryError(f"{dest} already exists ({before}); registries overwrite tags silently, so "
                                "the push is refused. Push another --app-version (or pass --force to "
                                "replace it).")
        with Stage(say, f"app {version}: push {dest}"):
            digest = _copy(built.archive, dest, plain_http=plain_http)
    served = manifest_digest(dest, plain_http=plain_http)
    if served != digest:
        raise RegistryError(f"pushed {dest} as {digest}, but the registry now serves {served}: another "
                            "push to the same tag raced this one")
    signed = False
    if cosign_key is not None:
        with Stage(say, f"app {version}: cosign sign {repository}@{digest}"):
            cosign.sign(f"{repository}@{digest}", cosign_key, plain_http=plain_http)
        signed = True
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    published = record.Published("app", repository, version, digest, built.ref, now, signed)
    if record_path:
        record.write(record_path, kept, published)
    return published


def _copy(archive: Path, dest: str, *, plain_http: bool) -> str:
    """skopeo copy docker-archive -> registry as an OCI manifest; returns the manifest digest."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix=".webstack-push-") as tmp:
        digest_file = Path(tmp) / "digest"
        res = subprocess.run([require_skopeo(), "copy", "--quiet", "--format", "oci",
                              *_tls(plain_http, "--dest-tls-verify"), "--digestfile", str(digest_file),
                              f"docker-archive:{archive}", f"docker://{dest}"],
                             capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise RegistryError(f"pushing {dest} failed: {_said(res)}")
        return digest_file.read_text().strip()
