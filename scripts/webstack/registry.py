"""OCI registries: push a packaged chart without ever overwriting a version, and a local registry for tests.

Registries overwrite tags silently, so `push` asks the registry first (through helm, so helm's own
login config applies) and refuses an existing version unless forced. The local registry is Debian's
`docker-registry` (CNCF distribution v2) on 127.0.0.1, filesystem storage in a private folder.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from webstack import helm
from webstack.errors import InputError, WebstackError
from webstack.servers import LOOPBACK, Process, free_port, port_open, service_user, start_process, wait_until


class RegistryError(WebstackError):
    """A registry refused or could not take a push (including a version that already exists)."""


@dataclass(frozen=True)
class Pushed:
    ref: str  # oci://host/path/name:version
    digest: str
    replaced: bool
    provenance: bool = False  # the package's .prov went with it (helm pushes NAME.tgz.prov as a layer)


def check_ref(url: str) -> str:
    """`oci://host[:port]/path` (the namespace charts go under), without a trailing slash or tag."""
    if not re.match(r"^oci://[^/\s:]+(:\d+)?(/[a-z0-9._/-]+)?$", url.rstrip("/")):
        raise InputError(f"registry {url!r}: expected oci://HOST[:PORT]/PATH, e.g. oci://ghcr.io/acme/charts")
    return url.rstrip("/")


def package_metadata(tgz: Path) -> dict[str, str]:
    if not tgz.is_file():
        raise InputError(f"package {tgz} does not exist")
    meta = yaml.safe_load(helm.show_chart(tgz).stdout)
    if not isinstance(meta, dict) or "name" not in meta or "version" not in meta:
        raise InputError(f"{tgz}: not a Helm chart package (no name/version in its Chart.yaml)")
    return meta


def exists(registry: str, name: str, version: str, *, plain_http: bool = False) -> bool:
    """Whether name:version is already in the registry; an unreachable registry is an error, not 'no'."""
    ref = f"{check_ref(registry)}/{name}"
    res = helm.show_chart(ref, version=version, plain_http=plain_http, check=False)
    if res.returncode == 0:
        return True
    said = (res.stderr or res.stdout).strip()
    if re.search(r"\bnot found\b|name unknown|manifest unknown", said, re.IGNORECASE):
        return False
    raise RegistryError(f"cannot ask {registry} whether {name} {version} exists:\n{said}")


def push(tgz: Path, registry: str, *, plain_http: bool = False, force: bool = False) -> Pushed:
    """helm push, refusing a version that is already there unless `force`.

    A provenance file next to the package (`<package>.prov`, from `webstack package --sign`) is pushed
    with it by helm itself, as a layer of type application/vnd.cncf.helm.chart.provenance.v1.prov, so
    `helm pull --verify oci://...` works.
    """
    meta = package_metadata(tgz)
    registry = check_ref(registry)
    name, version = meta["name"], str(meta["version"])
    ref = f"{registry}/{name}:{version}"
    already = exists(registry, name, version, plain_http=plain_http)
    if already and not force:
        raise RegistryError(f"{ref} already exists; registries overwrite tags silently, so the push is "
                            "refused. Bump the chart version (or pass --force to replace it).")
    res = helm.push(tgz, registry, plain_http=plain_http)
    digest = next((ln.split(":", 1)[1].strip() for ln in (res.stdout + res.stderr).splitlines()
                   if ln.startswith("Digest:")), "")
    return Pushed(ref, digest, already, tgz.with_name(tgz.name + ".prov").is_file())


@dataclass
class LocalRegistry:
    """A running docker-registry on 127.0.0.1:<port>; `url` is the oci:// namespace to push to."""

    port: int
    process: Process

    @property
    def url(self) -> str:
        return f"oci://{LOOPBACK}:{self.port}/charts"


@contextlib.contextmanager
def local_registry(workdir: Path, timeout: float = 30) -> Iterator[LocalRegistry]:
    program = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not Path(program).exists():
        raise RegistryError("docker-registry not found: `make setup` installs Debian's docker-registry "
                            "package (the CNCF distribution registry)")
    port = free_port()
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    config.write_text(yaml.safe_dump({
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"{LOOPBACK}:{port}"},
    }))
    user = service_user("docker-registry")
    if user:  # no reason to run a network server as root
        for path in (workdir, storage, config):
            shutil.chown(path, user)
        workdir.chmod(0o755)
    process = start_process("docker-registry", [program, "serve", str(config)], workdir / "registry.log",
                            user=user)
    try:
        wait_until(lambda: port_open(port), timeout, f"docker-registry on {LOOPBACK}:{port}",
                   log=process.log, alive=process.alive)
        yield LocalRegistry(port, process)
    finally:
        process.stop()
