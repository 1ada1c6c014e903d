"""Cross-object references inside one render: what a workload, Ingress, HPA, PDB, NetworkPolicy or
Service names must exist in the same render, unless it is declared external.

External objects are declared four ways: by the values schema (a property marked
`"x-external": "Secret"`, or any other kind, names an object made outside the chart: the names found at
those paths in the values set are external; a mark inside an if/then counts when the `if` holds), by a
value's key (any `existingSecret`, `existingClaim` or `existingConfigMap` key in the merged values, a
string or a map with `name`; any `imagePullSecrets` list), by the annotation
`webstack.io/external: "Secret/name, ConfigMap/other"` on any rendered object, or by the caller
(`webstack check --external Secret/name`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from webstack import schema_defs
from webstack.checks import values as values_check
from webstack.manifests import (
    LONG_RUNNING_KINDS,
    Manifest,
    containers,
    join,
    map_selector_matches,
    pod_labels,
    pod_template,
    pod_template_path,
    selector_matches,
)
from webstack.report import Finding, Severity, yaml_value

CHECK = "references"
EXTERNAL_ANNOTATION = "webstack.io/external"
EXTERNAL_KEYWORD = "x-external"
_EXISTING_KEYS = {
    "existingsecret": "Secret",
    "existingclaim": "PersistentVolumeClaim",
    "existingconfigmap": "ConfigMap",
    "existingserviceaccount": "ServiceAccount",
}


def externals_from_values(values: Any) -> set[str]:
    """Kind/name of every object the values say exists outside the chart."""
    out: set[str] = set()
    if isinstance(values, dict):
        for key, val in values.items():
            kind = _EXISTING_KEYS.get(str(key).lower())
            if str(key) == "imagePullSecrets" and isinstance(val, list):
                # registry credentials are made outside the chart: the value names them
                out |= {f"Secret/{s.get('name') if isinstance(s, dict) else s}" for s in val if s}
                continue
            if kind and isinstance(val, dict):
                val = val.get("name")
            if kind and isinstance(val, str) and val:
                out.add(f"{kind}/{val}")
            elif not kind:
                out |= externals_from_values(val)
    elif isinstance(values, list):
        for item in values:
            out |= externals_from_values(item)
    return out


def externals_from_schema(validator: Any, value: Any) -> set[str]:
    """Kind/name at every path of `value` whose schema property carries `x-external: <Kind>`
    (`validator`: a jsonschema validator of the chart's values schema; it decides each `if`)."""

    def walk(schema: Any, value: Any) -> set[str]:
        schema = schema_defs.resolve(validator.schema, schema)  # a shared shape (`definitions`)
        if not isinstance(schema, dict):
            return set()
        out: set[str] = set()
        kind = schema.get(EXTERNAL_KEYWORD)
        if kind and isinstance(value, str) and value:
            out.add(f"{kind}/{value}")
        if isinstance(value, dict):
            for name, sub in (schema.get("properties") or {}).items():
                if name in value:
                    out |= walk(sub, value[name])
        if isinstance(value, list):
            for item in value:
                out |= walk(schema.get("items"), item)
        for sub in schema.get("allOf") or []:
            out |= walk(sub, value)
        if "if" in schema:
            holds = validator.evolve(schema=schema["if"]).is_valid(value)
            out |= walk(schema.get("then" if holds else "else"), value)
        return out

    return walk(validator.schema, value)


def externals_declared(chart_dir: Path, values: dict[str, Any]) -> set[str]:
    """What the values set declares external: through the schemas' `x-external` marks (the umbrella's
    and every enabled subchart's, on the values helm gives each) and through existing* keys."""
    out = externals_from_values(values)
    for scope in values_check.scopes(chart_dir, values):
        if (validator := scope.validator) is not None:
            out |= externals_from_schema(validator, scope.values)
    return out


def externals_from_annotations(manifests: Iterable[Manifest]) -> set[str]:
    out: set[str] = set()
    for m in manifests:
        raw = m.annotations.get(EXTERNAL_ANNOTATION)
        if raw:
            out |= {p.strip() for p in re.split(r"[,\s]+", str(raw)) if "/" in p}
    return out


Ref = tuple[str, str, str, str | None]  # (path, kind, name, key or None)


def pod_refs(spec_path: str, spec: dict[str, Any]) -> Iterator[Ref]:
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if sa and sa != "default":
        yield join(spec_path, "serviceAccountName"), "ServiceAccount", sa, None
    for i, s in enumerate(spec.get("imagePullSecrets") or []):
        yield join(spec_path, f"imagePullSecrets[{i}].name"), "Secret", s.get("name", ""), None
    for i, vol in enumerate(spec.get("volumes") or []):
        vpath = join(spec_path, f"volumes[{i}]")
        if (cm := vol.get("configMap")) and not cm.get("optional"):
            for item in cm.get("items") or [{}]:
                yield join(vpath, "configMap"), "ConfigMap", cm.get("name", ""), item.get("key")
        if (sec := vol.get("secret")) and not sec.get("optional"):
            for item in sec.get("items") or [{}]:
                yield join(vpath, "secret"), "Secret", sec.get("secretName", ""), item.get("key")
        if pvc := vol.get("persistentVolumeClaim"):
            yield (
                join(vpath, "persistentVolumeClaim.claimName"),
                "PersistentVolumeClaim",
                pvc.get("claimName", ""),
                None,
            )
        for j, src in enumerate((vol.get("projected") or {}).get("sources") or []):
            for field, kind in (("configMap", "ConfigMap"), ("secret", "Secret")):
                if (ref := src.get(field)) and not ref.get("optional"):
                    for item in ref.get("items") or [{}]:
                        yield (
                            join(vpath, f"projected.sources[{j}].{field}"),
                            kind,
                            ref.get("name", ""),
                            item.get("key"),
                        )
    for cpath, c in containers(spec):
        base = join(spec_path, cpath)
        for i, env in enumerate(c.get("env") or []):
            vf = env.get("valueFrom") or {}
            for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if (ref := vf.get(field)) and not ref.get("optional"):
                    yield join(base, f"env[{i}].valueFrom.{field}"), kind, ref.get("name", ""), ref.get("key")
        for i, env in enumerate(c.get("envFrom") or []):
            for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if (ref := env.get(field)) and not ref.get("optional"):
                    yield join(base, f"envFrom[{i}].{field}"), kind, ref.get("name", ""), None


def _keys(m: Manifest) -> set[str]:
    fields = ("data", "binaryData") if m.kind == "ConfigMap" else ("data", "stringData")
    return {k for f in fields for k in (m.doc.get(f) or {})}


def check(manifests: list[Manifest], context: str, externals: set[str] = frozenset()) -> list[Finding]:
    externals = set(externals) | externals_from_annotations(manifests)
    index = {m.ref: m for m in manifests}
    workloads = [m for m in manifests if pod_template(m) is not None]
    findings: list[Finding] = []

    def add(m: Manifest, path: str, rule: str, msg: str, sev: Severity = Severity.ERROR) -> None:
        findings.append(Finding(m.source, m.ref, path, rule, msg, sev, CHECK, context))

    def need(m: Manifest, path: str, kind: str, name: str, key: str | None = None) -> Manifest | None:
        ref = f"{kind}/{name}"
        if ref in externals:
            return None
        target = index.get(ref)
        if target is None:
            add(
                m,
                path,
                "REF-MISSING",
                f"{ref} is not in the render and not declared external "
                f"({EXTERNAL_KEYWORD} in the values schema, existing* value, {EXTERNAL_ANNOTATION} "
                "annotation or --external)",
            )
        elif (
            key is not None
            and kind in ("ConfigMap", "Secret")
            and key not in _keys(target)
            and not (kind == "Secret" and target.doc.get("type") == "kubernetes.io/tls")
        ):
            add(m, path, "REF-KEY-MISSING", f"{ref} has no key {key!r}")
        return target

    for m in workloads:
        tpl = pod_template(m) or {}
        spec = tpl.get("spec") or {}
        spec_path = join(pod_template_path(m), "spec")
        for path, kind, name, key in pod_refs(spec_path, spec):
            need(m, path, kind, name, key)
        volumes = {v.get("name") for v in spec.get("volumes") or []}
        vcts = {
            (t.get("metadata") or {}).get("name")
            for t in (m.doc.get("spec") or {}).get("volumeClaimTemplates") or []
        }
        for cpath, c in containers(spec):
            for i, mount in enumerate(c.get("volumeMounts") or []):
                if mount.get("name") not in volumes | vcts:
                    add(
                        m,
                        join(spec_path, cpath, f"volumeMounts[{i}].name"),
                        "REF-MISSING",
                        f"volume {yaml_value(mount.get('name'))} is not declared in the pod spec",
                    )
        if m.kind == "StatefulSet" and (svc := (m.doc.get("spec") or {}).get("serviceName")):
            need(m, "spec.serviceName", "Service", svc)

    for m in manifests:
        spec = m.doc.get("spec") or {}
        if m.kind == "Ingress":
            backends = (
                [("spec.defaultBackend", spec.get("defaultBackend"))] if spec.get("defaultBackend") else []
            )
            for i, r in enumerate(spec.get("rules") or []):
                for j, p in enumerate((r.get("http") or {}).get("paths") or []):
                    backends.append((f"spec.rules[{i}].http.paths[{j}].backend", p.get("backend")))
            for path, backend in backends:
                svc_ref = (backend or {}).get("service")
                if not svc_ref:
                    continue
                svc = need(m, f"{path}.service.name", "Service", svc_ref.get("name", ""))
                port = svc_ref.get("port") or {}
                if svc is not None:
                    ports = (svc.doc.get("spec") or {}).get("ports") or []
                    if ("number" in port and all(p.get("port") != port["number"] for p in ports)) or (
                        "name" in port and all(p.get("name") != port["name"] for p in ports)
                    ):
                        add(m, f"{path}.service.port", "REF-PORT-MISSING", f"{svc.ref} has no port {port}")
            for i, tls in enumerate(spec.get("tls") or []):
                name = tls.get("secretName")
                if name and f"Secret/{name}" not in externals and f"Secret/{name}" not in index:
                    add(
                        m,
                        f"spec.tls[{i}].secretName",
                        "REF-TLS-SECRET",
                        f"Secret/{name} is not in the render: it must be created outside the chart "
                        "(cert-manager or the operator)",
                        Severity.INFO,
                    )
        elif m.kind == "HorizontalPodAutoscaler":
            ref = spec.get("scaleTargetRef") or {}
            need(m, "spec.scaleTargetRef", ref.get("kind", ""), ref.get("name", ""))
        elif m.kind == "PodDisruptionBudget":
            if not any(
                selector_matches(spec.get("selector"), pod_labels(w))
                for w in workloads
                if w.kind in LONG_RUNNING_KINDS
            ):
                add(m, "spec.selector", "REF-SELECTS-NOTHING", "selects no pods of this render")
        elif m.kind == "NetworkPolicy":
            if spec.get("podSelector") and not any(
                selector_matches(spec["podSelector"], pod_labels(w)) for w in workloads
            ):
                add(m, "spec.podSelector", "REF-SELECTS-NOTHING", "selects no pods of this render")
            for direction, peer_key in (("ingress", "from"), ("egress", "to")):
                for i, r in enumerate(spec.get(direction) or []):
                    for j, peer in enumerate(r.get(peer_key) or []):
                        sel = peer.get("podSelector")
                        if (
                            sel
                            and "namespaceSelector" not in peer
                            and not any(selector_matches(sel, pod_labels(w)) for w in workloads)
                        ):
                            # a peer allowed in advance (a backup Job only some values render) is harmless
                            add(
                                m,
                                f"spec.{direction}[{i}].{peer_key}[{j}].podSelector",
                                "REF-PEER-ABSENT",
                                "allows pods that this render does not create",
                                Severity.INFO,
                            )
        elif (
            m.kind == "Service"
            and spec.get("selector")
            and not any(map_selector_matches(spec["selector"], pod_labels(w)) for w in workloads)
        ):
            add(m, "spec.selector", "REF-SELECTS-NOTHING", "selects no pods of this render")
    return findings
