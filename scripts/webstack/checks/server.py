"""Server-side validation: every rendered object through a real kube-apiserver, as a dry run.

What a schema cannot say, the API server's own validation does: label keys and values, object and
port names, cron schedules, rolling-update rules (maxSurge 0 with maxUnavailable 0), toleration
effects, quantities, duplicate keys of associative lists; and Pod Security admission is the real
plugin, in a namespace labelled `pod-security.kubernetes.io/enforce=restricted` (and `warn=`, since
enforcement judges Pods only: a workload's pod template is judged through the warning it earns).

Each object is sent as a server-side apply (PATCH application/apply-patch+yaml, dryRun=All,
fieldValidation=Strict, force): that is how Helm 4 installs, so the structured-merge checks Helm 4
hits (duplicate list-map keys, fields the schema does not declare) come with the create-time
validation and admission a dry-run create would give. Identical objects across the values matrix
are sent once. A rejection becomes a Finding on the template and the API's field path, and where a
value produced it, on the values key that set it (looked up in the set's merged values, within the
subchart whose template made the object).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webstack.cluster.apiserver import FIELD_MANAGER, APIServer, Response
from webstack.manifests import Manifest, pod_template, pod_template_path
from webstack.render import NAMESPACE
from webstack.report import Finding, Severity
from webstack.values import PathPart, ValuesFile, ValuesSet, dotted, load, merged

CHECK = "server"
NAMESPACE_LABELS = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
    "pod-security.kubernetes.io/warn-version": "latest",
}
PARAMS = {"dryRun": "All", "fieldManager": FIELD_MANAGER, "force": "true", "fieldValidation": "Strict"}
_PSS = re.compile(r"(?:would )?violates? PodSecurity")
_INVALID_VALUE = re.compile(r'Invalid value: ("(?:[^"\\]|\\.)*"|[^:\s]+):')
_TYPED_PATH = re.compile(r":\s+\.([A-Za-z0-9_.\[\]=\"/,-]+?):")


@dataclass
class Outcome:
    """What the API server said about one distinct object."""

    response: Response | None = None
    unserved: str = ""  # why it was not sent: "custom" (no CRD here) or "removed" (not served)


@dataclass
class _ValuesIndex:
    """One values set's coalesced values (helm's view) and where each key may have been written."""

    chart_dir: Path
    vs: ValuesSet
    values: dict[str, Any]
    layers: list[tuple[ValuesFile, list[PathPart]]] = field(default_factory=list)
    subcharts: dict[str, str] = field(default_factory=dict)  # template folder name -> values key


def check(
    chart_dir: Path,
    renders: Sequence[tuple[ValuesSet, list[Manifest]]],
    server: APIServer | None = None,
    *,
    workers: int = 8,
    stats: dict[str, float] | None = None,
) -> list[Finding]:
    """Findings of every object of every values set; starts (and stops) a server unless one is given."""
    import time

    own = server is None
    server = server or APIServer(workers=workers)
    try:
        if own:
            server.launch()
        server.wait_ready()
        t0 = time.monotonic()
        server.create_namespace(NAMESPACE, NAMESPACE_LABELS)
        distinct: dict[str, dict[str, Any]] = {}
        for _vs, ms in renders:
            for m in ms:
                distinct.setdefault(_key(m.doc), m.doc)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            sent = pool.map(lambda d: _send(server, d), distinct.values())
            outcomes = dict(zip(distinct, sent, strict=True))
        if stats is not None:
            stats.update(objects=sum(len(ms) for _vs, ms in renders), requests=len(distinct),
                         seconds=time.monotonic() - t0, started_seconds=server.started_seconds)
    finally:
        if own:
            server.stop()
    findings: list[Finding] = []
    custom: dict[tuple[str, str, str], list[str]] = {}
    for vs, ms in renders:
        index: _ValuesIndex | None = None
        for m in ms:
            out = outcomes[_key(m.doc)]
            if out.unserved == "custom":
                custom.setdefault((m.source, m.ref, m.api_version), []).append(vs.name)
                continue
            if index is None:
                index = _values_index(chart_dir, vs)
            findings += _findings(m, out, vs.name, index)
    for (source, ref, api), sets in custom.items():
        findings.append(Finding(
            source, ref, "apiVersion", "SERVER-NOT-CHECKED",
            f"not server-checked: {api} {ref.split('/')[0]} is a custom resource whose CRD is not installed "
            "on the check's API server (the kubernetes check's schema covers what it can)",
            Severity.INFO, CHECK, ", ".join(sets)))
    return findings


def _key(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, default=str)


def _send(server: APIServer, doc: dict[str, Any]) -> Outcome:
    api, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
    found = server.resource(api, kind)
    if found is None:
        group = api.split("/")[0] if "/" in api else ""
        return Outcome(unserved="removed" if group in server.served_groups() else "custom")
    plural, namespaced = found
    body = json.loads(json.dumps(doc, default=str))
    meta = body.setdefault("metadata", {})
    name = str(meta.get("name") or "")
    if namespaced:
        meta["namespace"] = NAMESPACE  # the render's namespace; a hard-coded other one is not this check's
        where = f"/namespaces/{NAMESPACE}/{plural}"
    else:
        meta.pop("namespace", None)
        where = f"/{plural}"
    base = f"/api/{api}" if "/" not in api else f"/apis/{api}"
    if not name:  # apply needs a name; a create reports what is missing
        return Outcome(server.request("POST", base + where, body, params={"dryRun": "All"}))
    from urllib.parse import quote

    return Outcome(server.request("PATCH", f"{base}{where}/{quote(name, safe='')}", body,
                                  content_type="application/apply-patch+yaml", params=PARAMS))


# -- findings --------------------------------------------------------------------------------------
def _findings(m: Manifest, out: Outcome, context: str, index: _ValuesIndex) -> list[Finding]:
    def finding(path: str, rule: str, msg: str, sev: Severity = Severity.ERROR) -> Finding:
        return Finding(m.source, m.ref, path, rule, msg, sev, CHECK, context)

    if out.unserved == "removed":
        return [finding("apiVersion", "SERVER-UNSERVED",
                        f"{m.api_version} {m.kind} is not served by this Kubernetes (removed or never "
                        "existed in a built-in API group)")]
    resp = out.response
    assert resp is not None
    pod_path = pod_template_path(m) if pod_template(m) is not None else ""
    found: list[Finding] = []
    for w in resp.warnings:
        if _PSS.search(w):
            found.append(finding(pod_path or "spec", "SERVER-PSS",
                                 f"Pod Security admission (restricted): {w}"))
        else:
            found.append(finding(_warning_path(w), "SERVER-WARNING", f"the API server warns: {w}",
                                 Severity.WARNING))
    if resp.status < 300:
        return found
    body = resp.body
    message = str(body.get("message") or f"HTTP {resp.status}")
    if resp.status == 403 and _PSS.search(message):
        return [*found, finding(pod_path or "spec", "SERVER-PSS", f"Pod Security admission (restricted): "
                                f"{message.split(': ', 1)[-1]}")]
    causes = (body.get("details") or {}).get("causes") or []
    if not causes:
        typed = _TYPED_PATH.search(message)
        causes = [{"field": typed.group(1) if typed else "", "message": message}]
    for cause in causes:
        path = str(cause.get("field") or "")
        text = str(cause.get("message") or message)
        origin = _origin(m.doc, path, text, m.source, index)
        by = f" (set by {origin})" if origin else ""
        found.append(finding(path or "(object)", "SERVER-REJECTED", f"the API server rejects it: {text}{by}"))
    return found


def _warning_path(w: str) -> str:
    head = w.split(":", 1)[0]
    return head if re.fullmatch(r"[A-Za-z0-9_.\[\]/-]+", head) and "." in head else "(object)"


# -- field path -> rendered value -> values key -----------------------------------------------------
def parse_field(path: str) -> list[PathPart]:
    """`spec.template.spec.containers[0].ports[0].name`, `metadata.labels[app.kubernetes.io/x]` -> parts."""
    parts: list[PathPart] = []
    for m in re.finditer(r"\[([^\]]*)\]|([^.\[\]]+)", path):
        sub, name = m.group(1), m.group(2)
        if name is not None:
            parts.append(name)
        elif sub is not None:
            parts.append(int(sub) if sub.isdigit() else sub)
    return parts


def value_at(doc: Any, parts: list[PathPart]) -> tuple[bool, Any]:
    cur = doc
    for p in parts:
        if (isinstance(cur, dict) and p in cur) or (
            isinstance(cur, list) and isinstance(p, int) and p < len(cur)
        ):
            cur = cur[p]
        else:
            return False, None
    return True, cur


def _invalid_value(text: str) -> tuple[bool, Any]:
    m = _INVALID_VALUE.search(text)
    if not m:
        return False, None
    raw = m.group(1)
    try:
        return True, json.loads(raw)
    except ValueError:
        return True, raw


def _values_index(chart_dir: Path, vs: ValuesSet) -> _ValuesIndex:
    from webstack.checks.values import scopes, subcharts

    user = merged(chart_dir, vs)
    found = scopes(chart_dir, user)
    umbrella = found[-1]
    layers: list[tuple[ValuesFile, list[PathPart]]] = [(load(f), []) for f in reversed(vs.files)]
    layers.append((umbrella.defaults, []))
    layers += [(sc.defaults, sc.prefix) for sc in found if sc.prefix]
    subs: dict[str, str] = {}
    for sub in subcharts(chart_dir):
        subs[sub.directory.name] = sub.name
        subs.setdefault(sub.name, sub.name)
    return _ValuesIndex(chart_dir, vs, umbrella.values, layers, subs)


def _leaves(value: Any, prefix: list[PathPart]) -> list[tuple[list[PathPart], Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, [*prefix, str(k)])]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, [*prefix, i])]
    return [(prefix, value)]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if a == b:
        return True
    # `{{ .Values.x }}` renders "25%" and 25 alike: compare scalars as helm prints them
    return isinstance(a, (str, int, float)) and isinstance(b, (str, int, float)) and str(a) == str(b)


def _origin(doc: dict[str, Any], field_path: str, text: str, source: str, index: _ValuesIndex) -> str:
    """`KEY in FILE:LINE` for the values key that most likely produced the rejected value, or ''."""
    parts = parse_field(field_path)
    ok, value = value_at(doc, parts)
    if not ok or isinstance(value, (dict, list)):
        ok, value = _invalid_value(text)
    if not ok or value is None or isinstance(value, (dict, list)):
        return ""
    last = next((str(p) for p in reversed(parts) if isinstance(p, str)), "").lower()
    # within the subchart whose template made the object (webstack/charts/<sub>/templates/...)
    src = source.split("/")
    scope: list[PathPart] = []
    if len(src) > 3 and src[1] == "charts" and src[2] in index.subcharts:
        scope = [index.subcharts[src[2]]]
    tree: Any = index.values
    for p in scope:
        tree = tree.get(p) if isinstance(tree, dict) else None
    candidates = [(p, v) for p, v in _leaves(tree, scope) if _same(v, value)]
    if scope and isinstance(index.values.get("global"), dict):
        candidates += [(p, v) for p, v in _leaves(index.values["global"], ["global"]) if _same(v, value)]

    def rank(item: tuple[list[PathPart], Any]) -> tuple[int, int, int]:
        key = next((str(p) for p in reversed(item[0]) if isinstance(p, str)), "").lower()
        name = 0 if key == last else 1 if last and (key.endswith(last) or last.endswith(key)) else 2
        in_user = 0 if any(vf.has(_unprefixed(item[0], pre)) for vf, pre in index.layers
                           if not pre and vf.path in index.vs.files) else 1
        return name, in_user, len(item[0])

    candidates.sort(key=rank)
    if not candidates:
        return ""
    best = candidates[0]
    # no key named like the field: only a distinctive string, set in exactly one place, is trusted
    if rank(best)[0] == 2 and (not (isinstance(value, str) and len(value) >= 2) or len(candidates) > 1):
        return ""
    return f"{dotted(best[0])} in {_where(best[0], index)}"


def _unprefixed(path: list[PathPart], prefix: list[PathPart]) -> list[PathPart]:
    return path[len(prefix):] if path[:len(prefix)] == prefix else []


def _where(path: list[PathPart], index: _ValuesIndex) -> str:
    """The file (and line) that sets `path`: the last user file that has it, else a chart's defaults."""
    for vf, prefix in index.layers:
        sub = _unprefixed(path, prefix) if prefix else path
        if sub and vf.has(sub):
            line = vf.line_of(sub)
            return f"{_show(vf.path, index.chart_dir)}" + (f":{line}" if line else "")
    return "the chart defaults"


def _show(path: Path, chart_dir: Path) -> str:
    try:
        return str(path.resolve().relative_to(chart_dir.resolve()))
    except ValueError:
        return str(path)
