"""The record of published images (`webstack images push` writes it, the release rules read it).

    {"generator": "webstack",
     "images": [{"name": "app", "repository": "ghcr.io/acme/webstack/app", "tag": "1.0.0",
                 "digest": "sha256:...", "reference": "ghcr.io/acme/webstack/app:1.0.0@sha256:...",
                 "source": "localhost/webstack/app:1.0.0", "pushed_at": "2026-01-01T00:00:00Z",
                 "signed": false}]}

One entry per repository and tag: a new push of the same tag replaces its entry, others stay.
Written through webstack.outputs (atomic; an existing file only when webstack wrote it, else --force).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from webstack import outputs
from webstack.errors import InputError

DEFAULT = Path("dist") / "images.json"
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
FIELDS = ("name", "repository", "tag", "digest")


@dataclass(frozen=True)
class Published:
    name: str        # "app"
    repository: str  # registry/path/repository, no tag: ghcr.io/acme/webstack/app
    tag: str
    digest: str      # sha256:<64 hex>, the manifest digest the registry serves
    source: str = ""     # the local image pushed, e.g. localhost/webstack/app:1.0.0
    pushed_at: str = ""
    signed: bool = False

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}@{self.digest}"

    @property
    def by_digest(self) -> str:
        return f"{self.repository}@{self.digest}"


def load(path: Path) -> list[Published]:
    """The entries of a record file; anything malformed is an input error naming the place."""
    if not path.is_file():
        raise InputError(f"images record {path} does not exist (`webstack images push` writes it)"
                         if not path.exists() else f"images record {path} is not a file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise InputError(f"{path}: .images: expected a list of published images "
                         "(a record written by `webstack images push`)")
    found: list[Published] = []
    for i, entry in enumerate(doc["images"]):
        where = f"{path}: .images[{i}]"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: expected an object with {', '.join(FIELDS)}")
        for key in FIELDS:
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise InputError(f"{where}.{key}: expected a non-empty string")
        if not DIGEST_RE.match(entry["digest"]):
            raise InputError(f"{where}.digest: expected sha256:<64 hex digits>, got {entry['digest']!r}")
        found.append(Published(entry["name"], entry["repository"], entry["tag"], entry["digest"],
                               str(entry.get("source", "")), str(entry.get("pushed_at", "")),
                               bool(entry.get("signed", False))))
    return found


def check(path: Path, *, force: bool) -> list[Published]:
    """Pre-flight before a push: the record can be written, and its current entries (kept on update)."""
    outputs.check_file(path, force=force)
    if path.is_file() and outputs.is_ours(path):
        return load(path)
    return []  # new, or someone else's file replaced with --force


def write(path: Path, entries: list[Published], new: Published) -> None:
    """`entries` with `new` replacing any entry of the same repository and tag."""
    kept = [e for e in entries if (e.repository, e.tag) != (new.repository, new.tag)]
    doc = {"generator": outputs.GENERATOR,
           "images": [{**asdict(e), "reference": e.reference} for e in [*kept, new]]}
    if not path.parent.exists():  # a new folder (dist/): mark it as webstack's, so `package` may use it
        outputs.open_dir(path.parent)
    outputs.write_file(path, json.dumps(doc, indent=2) + "\n")
