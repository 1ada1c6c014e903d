"""Reading a rendered nginx configuration: what both the stack tier (its real nginx) and the cluster
tier (the chart's ConfigMap) need to know from it, so neither imports the other."""

from __future__ import annotations

import re


def strip_comments(conf: str) -> str:
    return re.sub(r"(^|(?<=\s))#[^\n]*", "", conf)


def body_limit(conf: str) -> int | None:
    """client_max_body_size in bytes (the first one; server blocks rarely differ), None if unset."""
    m = re.search(r"client_max_body_size\s+(\d+)([kKmMgG]?)\s*;", strip_comments(conf))
    if not m:
        return None
    scale = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]
    return int(m.group(1)) * scale
