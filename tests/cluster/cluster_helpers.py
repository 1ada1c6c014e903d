"""Helpers shared by the cluster tier's test modules."""

from __future__ import annotations

import os
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cluster"


def processes_under(path: Path) -> list[int]:
    """Live processes whose command line mentions `path` (a cluster's private folder)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            state = (proc / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if str(path) in cmdline and state != "Z" and int(proc.name) != os.getpid():
            found.append(int(proc.name))
    return found
