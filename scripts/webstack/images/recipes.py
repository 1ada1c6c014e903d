"""What each image is made of: its reference and a content hash of every input that shapes it.

A changed input changes the hash, and so the cache entry; an image whose inputs did not change (and
whose base did not change) is reused.
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from webstack.paths import REPO_ROOT, subchart_dir

SRC_DIR = REPO_ROOT / "scripts" / "webstack" / "images_src"
PAUSE_SOURCE = SRC_DIR / "pause.c"
PAUSE_REF = "localhost/webstack/pause:1.0"
PAUSE_CFLAGS = ("-static", "-Os", "-s", "-Wall", "-Wextra", "-Werror")

BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
APP_REPOSITORY = "localhost/webstack/app"
STANDIN_PREFIX = "localhost/webstack-standin"
# Stand-in name -> (subchart whose official image it replaces, what it is built from).
STANDINS = {"mysql": ("mysql", "MariaDB 10.11 from Debian"),
            "nginx": ("nginx", "nginx 1.22 from Debian")}
# Bump to rebuild every image after a change to how they are built (not visible in the inputs).
RECIPE_VERSION = "1"


@dataclass(frozen=True)
class Recipe:
    name: str             # base | pause | app | mysql | nginx
    ref: str
    key: str              # content hash of every input, the base's key included
    label: str            # for progress lines and errors, e.g. "app 1.0.0"
    stands_in_for: str = ""
    version: str = ""     # the app version baked in (app only)
    context: Path | None = None  # build context (app and stand-ins)
    origin: str = ""      # what a stand-in is built from, for humans


def _hash(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big") + data)  # length-prefixed: no two splits hash alike
    return h.hexdigest()


def _tree_parts(root: Path, files: list[Path]) -> list[str | bytes]:
    parts: list[str | bytes] = []
    for path in sorted(files):
        mode = "x" if path.stat().st_mode & 0o111 else "-"
        parts += [path.relative_to(root).as_posix(), mode, path.read_bytes()]
    return parts


def _ignored(rel: str, patterns: list[str]) -> bool:
    """.dockerignore semantics, enough for this repository: last match wins, `!` re-admits, a
    pattern matching a parent folder matches everything under it, `**/` matches zero folders too."""
    prefixes = [rel.rsplit("/", n)[0] for n in range(rel.count("/"), -1, -1)]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:].strip("/") if negate else raw.strip("/")
        alternatives = {pattern, pattern.removeprefix("**/")}
        if any(fnmatch.fnmatchcase(p, a) for p in prefixes for a in alternatives):
            ignored = not negate
    return ignored


def context_files(context: Path) -> list[Path]:
    """The files `buildah bud` sends from `context` (the Dockerfile always counts)."""
    ignore = context / ".dockerignore"
    patterns = [line.strip() for line in ignore.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")] if ignore.exists() else []
    files = [p for p in context.rglob("*") if p.is_file()
             and not _ignored(p.relative_to(context).as_posix(), patterns)]
    dockerfile = context / "Dockerfile"
    return sorted({*files, dockerfile} if dockerfile.exists() else set(files))


def base() -> Recipe:
    key = _hash(RECIPE_VERSION, "base", BASE_SUITE, "minbase", *BASE_PACKAGES)
    return Recipe("base", f"localhost/webstack/debian-python:{BASE_SUITE}-{key[:12]}", key,
                  f"base (Debian {BASE_SUITE} + python3)")


def pause() -> Recipe:
    key = _hash(RECIPE_VERSION, "pause", PAUSE_SOURCE.read_bytes(), *PAUSE_CFLAGS)
    return Recipe("pause", PAUSE_REF, key, "pause")


def app(version: str, base_key: str, context: Path) -> Recipe:
    key = _hash(RECIPE_VERSION, "app", version, base_key, *_tree_parts(context, context_files(context)))
    return Recipe("app", f"{APP_REPOSITORY}:{version}", key, f"app {version}", version=version,
                  context=context)


def official_image(subchart: str) -> str:
    """The chart's default image for `subchart`, as a full reference (docker.io/library/mysql:8.4)."""
    image = yaml.safe_load((subchart_dir(subchart) / "values.yaml").read_text())["image"]
    registry = image.get("registry") or "docker.io"
    repository = image["repository"]
    if registry == "docker.io" and "/" not in repository:
        repository = f"library/{repository}"
    return f"{registry}/{repository}:{image['tag']}"


def standin(name: str, base_key: str) -> Recipe:
    subchart, origin = STANDINS[name]
    official = official_image(subchart)
    repo, tag = official.rsplit(":", 1)
    # The official tag without its variant ("1.28-alpine" -> "1.28"): the contract's version.
    ref = f"{STANDIN_PREFIX}/{repo.rsplit('/', 1)[1]}:{tag.split('-')[0]}"
    context = SRC_DIR / name
    key = _hash(RECIPE_VERSION, name, official, base_key,
                *_tree_parts(context, sorted(p for p in context.rglob("*") if p.is_file())))
    return Recipe(name, ref, key, f"{name} stand-in", stands_in_for=official, context=context,
                  origin=origin)
