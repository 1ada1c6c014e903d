"""Running the image tools (buildah, mmdebstrap, gcc) with their output in a build log.

buildah keeps its storage under the webstack cache (never the host's /var/lib/containers), so building
needs no daemon, touches nothing system-wide, and is wiped with the cache.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from webstack.errors import ImageBuildError, ToolchainError

# Program -> the apt package that provides it (all listed in toolchain.APT_PACKAGES).
TOOLS = {"buildah": "buildah", "mmdebstrap": "mmdebstrap", "gcc": "gcc"}
LOG_TAIL_LINES = 20


def require_tools() -> None:
    missing = [pkg for prog, pkg in TOOLS.items() if not shutil.which(prog)]
    if missing:
        raise ToolchainError(
            f"building images needs {', '.join(missing)}, which is not installed: run `make setup` "
            f"(or `apt-get install -y {' '.join(missing)}`)."
        )


def log_tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


class Tools:
    """Runs each command with stdout and stderr appended to one log per image being built."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def buildah_cmd(self, *args: str) -> list[str]:
        return ["buildah", "--root", str(self.root / "storage"), "--runroot", str(self.root / "run"), *args]

    def run(self, image: str, cmd: Sequence[str], log: Path, *, cwd: Path | None = None) -> str:
        """Run `cmd` for `image`, its output streamed into `log` in order; returns the last output line
        (the id `--quiet` commands print). Raises ImageBuildError on failure."""
        last = ""
        with log.open("a") as out:
            out.write(f"$ {' '.join(cmd)}\n")
            out.flush()
            proc = subprocess.Popen(list(cmd), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, errors="replace")
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                last = line.strip() or last
            returncode = proc.wait()
        if returncode != 0:
            raise ImageBuildError(image, self.shown(cmd), returncode, log, log_tail(log))
        return last

    def shown(self, cmd: Sequence[str]) -> list[str]:
        """`cmd` as a person would type it: buildah's storage options (always ours) left out."""
        if list(cmd[:5]) == self.buildah_cmd()[:5]:
            return ["buildah", *cmd[5:]]
        return list(cmd)

    def buildah(self, image: str, log: Path, *args: str, cwd: Path | None = None) -> str:
        return self.run(image, self.buildah_cmd(*args), log, cwd=cwd)

    def has_image(self, ref: str) -> bool:
        res = subprocess.run(self.buildah_cmd("inspect", "--type", "image", ref),
                             capture_output=True, text=True, check=False)
        return res.returncode == 0

    def load(self, image: str, ref: str, archive: Path, log: Path) -> None:
        """Put a cached archive back into buildah's storage (it was pruned or the storage was wiped)."""
        image_id = self.buildah(image, log, "pull", "--quiet", f"docker-archive:{archive}")
        self.buildah(image, log, "tag", image_id, ref)

    def export(self, image: str, ref: str, archive: Path, log: Path) -> None:
        """A docker-archive named `ref`: `ctr -n k8s.io images import` keeps that name."""
        self.buildah(image, log, "push", "--quiet", ref, f"docker-archive:{archive}:{ref}")

    def refs(self, repository: str) -> list[str]:
        res = subprocess.run(self.buildah_cmd("images", "--format", "{{.Name}}:{{.Tag}}", repository),
                             capture_output=True, text=True, check=False)
        return res.stdout.split()

    def remove(self, ref: str) -> None:
        subprocess.run(self.buildah_cmd("rmi", "--force", ref), capture_output=True, check=False)

    def prune(self) -> None:
        """Drop images no tag names any more (a rebuilt tag leaves its predecessor dangling)."""
        subprocess.run(self.buildah_cmd("rmi", "--prune"), capture_output=True, check=False)


class Stage:
    """Times one stage of one image and reports it as one progress line."""

    def __init__(self, say: Any, label: str) -> None:
        self.say, self.label = say, label

    def __enter__(self) -> Stage:
        self.start = time.monotonic()
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        status = "done" if exc_type is None else "FAILED"
        self.say(f"{self.label}: {status} in {time.monotonic() - self.start:.1f}s")


def read_archive(archive: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(manifest entry, image config) of a single-image docker-archive."""
    with tarfile.open(archive) as tar:
        manifest = json.load(_member(tar, "manifest.json"))
        if len(manifest) != 1:
            raise ValueError(f"{archive}: {len(manifest)} images in manifest.json, expected 1")
        config = json.load(_member(tar, manifest[0]["Config"]))
    return manifest[0], config


def _member(tar: tarfile.TarFile, name: str) -> Any:
    f = tar.extractfile(name)
    if f is None:
        raise ValueError(f"{tar.name}: {name} is not a file")
    return f
