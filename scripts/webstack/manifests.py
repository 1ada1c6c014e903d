"""Rendered Kubernetes objects that remember the template they came from, and small helpers over them.

helm template prints `---` then `# Source: <chart>/templates/<file>` before each object; a YAML
parser drops those comments, so the raw stream is split here, in the one place that does it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from webstack import yamlstream
from webstack.errors import HelmError

_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)
WAIVE_ANNOTATION = "webstack.io/waive"


# Kinds whose pod template lives at spec.template (CronJob is handled apart: spec.jobTemplate.spec.template).
POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")
LONG_RUNNING_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")


@dataclass(frozen=True)
class Manifest:
    """One rendered object and the template file (as helm names it) that produced it."""

    source: str
    doc: dict[str, Any] = field(hash=False, compare=False)
    index: int = 0  # position in the render, keeps ordering stable

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.doc.get("apiVersion", ""))

    @property
    def name(self) -> str:
        return str((self.doc.get("metadata") or {}).get("name", ""))

    @property
    def ref(self) -> str:
        """Kind/name, the way reports and --external name an object."""
        return f"{self.kind}/{self.name}"

    @property
    def labels(self) -> dict[str, str]:
        return (self.doc.get("metadata") or {}).get("labels") or {}

    @property
    def annotations(self) -> dict[str, str]:
        return (self.doc.get("metadata") or {}).get("annotations") or {}

    @property
    def is_hook(self) -> bool:
        return "helm.sh/hook" in self.annotations


def parse_stream(text: str, origin: str | None = None) -> list[Manifest]:
    """Split `helm template` output into Manifests; empty documents (templates rendering nothing) drop.

    With `origin` (a file the user gave, not helm's output) a broken document is an InputError naming
    that file and the line in it, and objects without a `# Source:` comment are named after it.
    """
    from webstack.errors import InputError

    out: list[Manifest] = []
    line = 1  # where the current chunk starts in `text`
    for chunk in _SEPARATOR.split(text):
        start, line = line, line + chunk.count("\n")
        if not chunk.strip():
            continue
        m = _SOURCE.search(chunk)
        source = m.group(1).strip() if m else (origin or "<unknown>")
        try:
            doc = yamlstream.load(chunk)
        except yaml.YAMLError as exc:
            if origin is None:
                raise HelmError(f"{source}: helm rendered invalid YAML: {exc}") from exc
            mark, ctx = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
            where = f":{start + mark.line}:{mark.column + 1}" if mark is not None else f":{start}"
            began = f" ({exc.context} at line {start + ctx.line})" if ctx is not None else ""  # type: ignore[attr-defined]
            problem = getattr(exc, "problem", None) or exc
            raise InputError(f"{origin}{where}: YAML syntax error: {problem}{began}") from exc
        if doc is None:
            continue
        if not isinstance(doc, dict):
            what = f"{type(doc).__name__}, expected a Kubernetes object (a mapping)"
            if origin is None:
                raise HelmError(f"{source}: rendered a {what}")
            first = start + len(chunk) - len(chunk.lstrip("\n"))
            raise InputError(f"{origin}:{first}: a {what}")
        out.append(Manifest(source=source, doc=doc, index=len(out)))
    return out


def dump_stream(manifests: list[Manifest]) -> str:
    """The inverse of parse_stream: what `helm template` would print."""
    parts = [f"---\n# Source: {m.source}\n{yaml.safe_dump(m.doc, sort_keys=False)}" for m in manifests]
    return "".join(parts)


def pod_template(m: Manifest) -> dict[str, Any] | None:
    """The pod template (metadata + spec) of a workload, the object itself for a Pod, else None."""
    spec = m.doc.get("spec") or {}
    if m.kind in POD_TEMPLATE_KINDS:
        return spec.get("template") or {}
    if m.kind == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    if m.kind == "Pod":
        return {"metadata": m.doc.get("metadata") or {}, "spec": spec}
    return None


def pod_template_path(m: Manifest) -> str:
    return {"CronJob": "spec.jobTemplate.spec.template", "Pod": ""}.get(m.kind, "spec.template")


def containers(pod_spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path inside the pod spec, container) for init, regular and ephemeral containers."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for i, c in enumerate(pod_spec.get(key) or []):
            yield f"{key}[{i}]", c


def join(*parts: str) -> str:
    """Join dotted path parts, skipping empties and not dotting before [i]."""
    out = ""
    for p in parts:
        if not p:
            continue
        out = p if not out else (f"{out}{p}" if p.startswith("[") else f"{out}.{p}")
    return out


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Kubernetes LabelSelector semantics (matchLabels + matchExpressions); an empty selector matches all."""
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def map_selector_matches(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    """Service-style selector (a plain map)."""
    return bool(selector) and all(labels.get(k) == v for k, v in (selector or {}).items())


def pod_labels(m: Manifest) -> dict[str, str]:
    tpl = pod_template(m)
    return ((tpl or {}).get("metadata") or {}).get("labels") or {}


def waivers(m: Manifest) -> dict[str, str]:
    """rule id -> reason from `webstack.io/waive: "RULE-A: why; RULE-B: why"` (reason may be empty)."""
    raw = m.annotations.get(WAIVE_ANNOTATION)
    if not raw:
        return {}
    out: dict[str, str] = {}
    for entry in re.split(r"[;\n]", str(raw)):
        if not entry.strip():
            continue
        rule, _, reason = entry.partition(":")
        out[rule.strip()] = reason.strip()
    return out
