"""Which helm binary runs: found and version-checked once per process.

Resolution order: $WEBSTACK_HELM (must be Helm 4), a Helm 4 on PATH, the pinned build in the cache.
A Helm 3 on PATH is ignored with a one-line notice: Helm 3 left security support on 2026-11-11.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from webstack.errors import HelmVersionError, ToolchainError
from webstack.toolchain import HELM_VERSION, TOOLS

SUPPORTED_MAJOR = 4
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")


def parse_version(text: str) -> tuple[int, int, int]:
    """Parse helm's reported version; raise HelmVersionError for anything but a supported SemVer."""
    m = _SEMVER.match(text.strip())
    if not m:
        raise HelmVersionError(
            f"helm reports version {text.strip()!r}, which is not SemVer (an unstamped source build?). "
            f"Build it with -ldflags '-X helm.sh/helm/v4/internal/version.version={HELM_VERSION}', "
            "or run `make setup`, which does."
        )
    major, minor, patch = (int(g) for g in m.groups())
    if major != SUPPORTED_MAJOR:
        raise HelmVersionError(
            f"helm {text.strip()} is not supported: webstack needs Helm {SUPPORTED_MAJOR}.x "
            f"(Helm 3 is out of security support). Run `make setup` to build Helm {HELM_VERSION}, "
            "or point WEBSTACK_HELM at a Helm 4 binary."
        )
    return major, minor, patch


@functools.cache
def reported_version(binary: Path) -> str:
    try:
        res = subprocess.run([str(binary), "version", "--template", "{{.Version}}"],
                             capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        raise ToolchainError(f"cannot run helm at {binary}: {exc}") from exc
    if res.returncode != 0:
        raise HelmVersionError(f"`{binary} version` failed: {res.stderr.strip() or res.stdout.strip()}")
    return res.stdout.strip()


def _is_ours(path: Path) -> bool:
    return path.resolve() == TOOLS["helm"].binary().resolve()


def helm4_on_path() -> Path | None:
    """A Helm 4 on PATH that is not our own cached build; a Helm 3 there is noted and ignored."""
    found = shutil.which("helm")
    if not found or _is_ours(Path(found)):
        return None
    version = reported_version(Path(found))
    try:
        parse_version(version)
    except HelmVersionError:
        _notice(f"ignoring {found} ({version}): webstack needs Helm {SUPPORTED_MAJOR}; "
                "using the pinned build")
        return None
    return Path(found)


@functools.cache
def _notice(msg: str) -> None:  # cached: say it once per process
    print(f"notice: {msg}", file=sys.stderr)


@functools.cache
def binary() -> Path:
    """The helm binary to use, version-checked."""
    if explicit := os.environ.get("WEBSTACK_HELM"):
        path = Path(explicit)
        if not os.access(path, os.X_OK):
            raise ToolchainError(f"WEBSTACK_HELM={explicit} is not an executable file")
        parse_version(reported_version(path))
        return path
    if external := helm4_on_path():
        return external
    pinned = TOOLS["helm"].binary()
    if os.access(pinned, os.X_OK):
        parse_version(reported_version(pinned))
        return pinned
    raise ToolchainError(
        f"no helm binary: run `make setup` (builds Helm {HELM_VERSION} with `go install`, cached in "
        f"{pinned.parent}), or put a Helm 4 on PATH, or set WEBSTACK_HELM=/path/to/helm."
    )
