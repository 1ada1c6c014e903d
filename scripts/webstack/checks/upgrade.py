"""Upgrade safety: the fields Kubernetes refuses to change in place, diffed between two renders.

The base render comes from a git ref (the chart extracted with `git archive`, read-only) or from a
previous values set. A changed immutable field makes `helm upgrade` fail (or forces a delete and
recreate), so it is an error; a changed Service selector or type is allowed but re-routes traffic: a warning.
"""

from __future__ import annotations

from typing import Any

from webstack.manifests import Manifest
from webstack.report import Finding, Severity, yaml_value

CHECK = "upgrade"

# kind -> (field path, severity)
IMMUTABLE: dict[str, tuple[tuple[str, Severity], ...]] = {
    "StatefulSet": (
        ("spec.selector", Severity.ERROR),
        ("spec.serviceName", Severity.ERROR),
        ("spec.volumeClaimTemplates", Severity.ERROR),
        ("spec.podManagementPolicy", Severity.ERROR),
    ),
    "Deployment": (("spec.selector", Severity.ERROR),),
    "DaemonSet": (("spec.selector", Severity.ERROR),),
    "Job": (("spec.selector", Severity.ERROR), ("spec.template", Severity.ERROR)),
    "Service": (
        ("spec.clusterIP", Severity.ERROR),
        ("spec.type", Severity.WARNING),
        ("spec.selector", Severity.WARNING),
    ),
    "PersistentVolumeClaim": (
        ("spec.storageClassName", Severity.ERROR),
        ("spec.accessModes", Severity.ERROR),
    ),
}


def _get(doc: dict[str, Any], path: str) -> Any:
    cur: Any = doc
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return cur


def _vct_identity(vcts: Any) -> Any:
    """What the API server compares: names and specs; labels on the templates do not matter."""
    return [((t.get("metadata") or {}).get("name"), t.get("spec")) for t in vcts or []]


def _recreated_hook(m: Manifest) -> bool:
    """A hook Job deleted before each run is created anew, so its template may change freely."""
    policy = m.annotations.get("helm.sh/hook-delete-policy", "")
    return m.is_hook and "before-hook-creation" in policy


def diff(old: list[Manifest], new: list[Manifest], context: str) -> list[Finding]:
    before = {m.ref: m for m in old}
    findings = []
    for m in new:
        prev = before.get(m.ref)
        if prev is None or m.kind not in IMMUTABLE or (m.kind == "Job" and _recreated_hook(m)):
            continue
        for path, severity in IMMUTABLE[m.kind]:
            a, b = _get(prev.doc, path), _get(m.doc, path)
            if path == "spec.volumeClaimTemplates":
                a, b = _vct_identity(a), _vct_identity(b)
            if a != b:
                verb = (
                    "is immutable: helm upgrade will fail"
                    if severity == Severity.ERROR
                    else "changed: traffic or endpoints move on upgrade"
                )
                findings.append(
                    Finding(
                        m.source,
                        m.ref,
                        path,
                        f"UPGRADE-{m.kind.upper()}-{path.split('.')[-1].upper()}",
                        f"{verb}: {_delta(a, b)}",
                        severity,
                        CHECK,
                        context,
                    )
                )
    return findings


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out |= _flat(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return {prefix: value}


def _delta(a: Any, b: Any, limit: int = 200) -> str:
    """What changed, key by key for maps (`+key=v`, `-key`, `key: a -> b`), else `a -> b`."""
    if isinstance(a, dict) and isinstance(b, dict):
        fa, fb = _flat(a), _flat(b)
        parts = [f"+{k}={yaml_value(fb[k])}" for k in fb if k not in fa]
        parts += [f"-{k}" for k in fa if k not in fb]
        parts += [f"{k}: {yaml_value(fa[k])} -> {yaml_value(fb[k])}"
                  for k in fa if k in fb and fa[k] != fb[k]]
        text = ", ".join(parts)
    else:
        text = f"{yaml_value(a)} -> {yaml_value(b)}"
    return text if len(text) <= limit else text[: limit - 3] + "..."
