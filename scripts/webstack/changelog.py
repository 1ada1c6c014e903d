"""A chart's CHANGELOG.md (Keep a Changelog) and the Artifact Hub `changes` it implies.

A release is `## [X.Y.Z] - YYYY-MM-DD` followed by `### Added|Changed|Deprecated|Removed|Fixed|Security`
sections of `- ` bullets (continuation lines indented). `## [Unreleased]` is allowed and skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from webstack.errors import InputError

# Keep a Changelog section -> Artifact Hub change kind (same six words, lower case).
KINDS = ("added", "changed", "deprecated", "removed", "fixed", "security")

_RELEASE = re.compile(r"^## \[(?P<version>[^\]]+)\](?:\s+-\s+(?P<date>\d{4}-\d{2}-\d{2}))?\s*$")
_SECTION = re.compile(r"^### (?P<kind>\w+)\s*$")
_BULLET = re.compile(r"^[-*] (?P<text>.+)$")


@dataclass
class Release:
    version: str
    date: str
    line: int
    changes: list[tuple[str, str]] = field(default_factory=list)  # (kind, description)


def parse(path: Path) -> list[Release]:
    """Every release in file order (newest first by convention); Unreleased is dropped."""
    if not path.is_file():
        raise InputError(f"{path}: no CHANGELOG.md; a chart release needs one (Keep a Changelog format)")
    releases: list[Release] = []
    current: Release | None = None
    kind: str | None = None
    unreleased = False
    for no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.rstrip()
        if line.startswith("## "):
            m = _RELEASE.match(line)
            if not m:
                raise InputError(f"{path}:{no}: expected a release heading '## [X.Y.Z] - YYYY-MM-DD', "
                                 f"got {line!r}")
            kind = None
            unreleased = m["version"].lower() == "unreleased"
            if unreleased:
                current = None
                continue
            if not m["date"]:
                raise InputError(f"{path}:{no}: release [{m['version']}] has no date "
                                 "(expected '## [X.Y.Z] - YYYY-MM-DD')")
            current = Release(m["version"], m["date"], no)
            releases.append(current)
        elif line.startswith("### "):
            m = _SECTION.match(line)
            if not m or m["kind"].lower() not in KINDS:
                raise InputError(f"{path}:{no}: expected a section heading '### ' + one of "
                                 f"{', '.join(k.title() for k in KINDS)}, got {line!r}")
            kind = m["kind"].lower()
        elif (m := _BULLET.match(line)) and not unreleased:
            if current is None or kind is None:
                raise InputError(f"{path}:{no}: change {line!r} is not under a release and section heading")
            current.changes.append((kind, m["text"].strip()))
        elif line.startswith((" ", "\t")) and line.strip() and current and current.changes and not unreleased:
            k, text = current.changes[-1]  # a wrapped bullet
            current.changes[-1] = (k, f"{text} {line.strip()}")
    return releases


def latest(path: Path) -> Release:
    releases = parse(path)
    if not releases:
        raise InputError(f"{path}: no released version (expected a '## [X.Y.Z] - YYYY-MM-DD' heading)")
    if not releases[0].changes:
        raise InputError(f"{path}:{releases[0].line}: release [{releases[0].version}] lists no changes")
    return releases[0]


def artifacthub_changes(release: Release) -> list[dict[str, str]]:
    """The `artifacthub.io/changes` list for a release: [{kind, description}, ...] in file order."""
    return [{"kind": kind, "description": text} for kind, text in release.changes]
